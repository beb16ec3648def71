"""What a run paints: the photo, the paintings with their blend weights, the masks, a start
image and a weights file. :class:`~painterly.settings.Settings` says *how*; this says *what*.

Standard library only: the CLI builds and checks it before torch is imported. Each image may
be a path, a PIL image, an ``(H, W[, C])`` array or a ``(1, 3, H, W)`` tensor in [0, 1]
(``io.load_image`` reads them all), so a video frame or a warped previous result can be
passed as a tensor.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from painterly.errors import InputError
from painterly.settings import WEIGHT_FILE_SUFFIXES, WEIGHT_SOURCES

ImageSource = Any  # a path, PIL image, array or tensor: see io.load_image
StyleSpec = Any  # an ImageSource, or an (ImageSource, blend weight) pair


@dataclass(frozen=True)
class Inputs:
    """The inputs of one run, checked: at least one style, positive finite blend weights,
    one style mask per style, a weights file with a known suffix."""

    content: ImageSource
    styles: tuple[tuple[ImageSource, float], ...]
    mask: ImageSource | None = None  # white = stylise, black = keep the photo
    style_masks: tuple[ImageSource, ...] | None = None  # one per style: where each goes
    init_image: ImageSource | None = None  # start here (instead of Settings.init)
    weights_file: str | None = None  # VGG19 weights file (instead of Settings.weights)

    def __post_init__(self) -> None:
        if not self.styles:
            raise InputError("at least one style image is needed")
        for source, weight in self.styles:
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
                raise InputError(
                    f"style blend weight {weight!r} for {name(source)}: must be positive"
                )
            if weight == float("inf"):
                raise InputError(f"style blend weight for {name(source)}: must be finite")
        if self.style_masks is not None and len(self.style_masks) != len(self.styles):
            raise InputError(
                f"style_masks: {len(self.style_masks)} mask(s) for {len(self.styles)} style(s); "
                "give one per style"
            )
        if self.weights_file is not None:
            check_weights_file(self.weights_file)

    @classmethod
    def of(
        cls,
        content: ImageSource,
        styles: StyleSpec | Sequence[StyleSpec],
        *,
        mask: ImageSource | None = None,
        style_masks: Sequence[ImageSource] | None = None,
        init_image: ImageSource | None = None,
        weights_file: str | os.PathLike[str] | None = None,
    ) -> Inputs:
        """Inputs from the loose forms people write: ``styles`` is one image, one
        ``(image, weight)`` pair, or a list of images and pairs (weight 1 by default)."""
        return cls(
            content,
            _style_specs(styles),
            mask,
            tuple(style_masks) if style_masks is not None else None,
            init_image,
            os.fspath(weights_file) if weights_file is not None else None,
        )

    def files(self) -> list[str]:
        """Every input given as a path: content, styles, start image, masks, weights file."""
        sources = [self.content, *(s for s, _ in self.styles), self.init_image, self.mask]
        sources += [*(self.style_masks or ()), self.weights_file]
        return [os.fspath(s) for s in sources if isinstance(s, (str, os.PathLike))]

    def record(self) -> dict[str, Any]:
        """The inputs by name (paths as given; other sources by type) for a run's record."""
        out: dict[str, Any] = {
            "content": name(self.content),
            "styles": [[name(s), w] for s, w in self.styles],
        }
        if self.mask is not None:
            out["mask"] = name(self.mask)
        if self.style_masks is not None:
            out["style_masks"] = [name(m) for m in self.style_masks]
        if self.init_image is not None:
            out["init_image"] = name(self.init_image)
        if self.weights_file is not None:
            out["weights_file"] = self.weights_file
        return out

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Inputs:
        """Inputs from :meth:`record` of inputs that were all paths (e.g. in a checkpoint)."""
        masks = record.get("style_masks")
        return cls(
            str(record["content"]),
            tuple((str(p), float(w)) for p, w in record["styles"]),
            record.get("mask"),
            tuple(masks) if masks is not None else None,
            record.get("init_image"),
            record.get("weights_file"),
        )


def check_weights_file(path: str) -> None:
    """A weights file must have a suffix we read (the names of the sources are no files)."""
    if not isinstance(path, str) or not path.lower().endswith(WEIGHT_FILE_SUFFIXES):
        raise InputError(
            f"weights={path!r}: expected one of {', '.join(WEIGHT_SOURCES)} "
            f"or a file ending in {', '.join(WEIGHT_FILE_SUFFIXES)}"
        )


def name(source: Any) -> str:
    """A source as people read it: the path as given, else ``<type>``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return f"<{type(source).__name__}>"


def _is_image(value: Any) -> bool:
    """One image rather than a list of them (arrays and tensors have a shape)."""
    return isinstance(value, (str, os.PathLike)) or (
        not isinstance(value, (list, tuple)) and (hasattr(value, "shape") or hasattr(value, "mode"))
    )


def _style_specs(styles: StyleSpec | Sequence[StyleSpec]) -> tuple[tuple[ImageSource, float], ...]:
    if _is_image(styles):
        styles = [styles]  # one image
    elif isinstance(styles, tuple) and len(styles) == 2 and isinstance(styles[1], (int, float)):
        styles = [styles]  # one (image, weight) pair
    specs = []
    for item in styles:
        source, weight = item if isinstance(item, tuple) else (item, 1.0)
        specs.append((source, float(weight) if _is_number(weight) else weight))
    return tuple(specs)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


__all__ = ["ImageSource", "Inputs", "name"]
