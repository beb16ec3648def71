"""painterly: neural style transfer (Gatys et al.) that runs offline, on any machine.

    >>> import painterly
    >>> painterly.stylize("photo.jpg", "painting.jpg", size=512, seed=0).save("out.png")

Names are imported on first use (PEP 562), so ``import painterly`` and ``painterly --help``
stay fast and importing has no side effects.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from painterly.version import __version__

_EXPORTS = {
    "stylize": "painterly.api",
    "iterate": "painterly.api",
    "prepare": "painterly.api",
    "Inputs": "painterly.inputs",
    "Settings": "painterly.settings",
    "InputError": "painterly.errors",
    "Progress": "painterly.optimize",
    "load_image": "painterly.io",
    "save_image": "painterly.io",
    "to_pil": "painterly.io",
    "LAYERS": "painterly.arch",
}

if TYPE_CHECKING:
    from painterly.api import iterate, prepare, stylize
    from painterly.arch import LAYERS
    from painterly.errors import InputError
    from painterly.inputs import Inputs
    from painterly.io import load_image, save_image, to_pil
    from painterly.optimize import Progress
    from painterly.settings import Settings


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*_EXPORTS, "__version__"])


__all__ = [
    "LAYERS",
    "InputError",
    "Inputs",
    "Progress",
    "Settings",
    "__version__",
    "iterate",
    "load_image",
    "prepare",
    "save_image",
    "stylize",
    "to_pil",
]
