"""Model files of the feed-forward engine: data, never code.

A model is one ``.safetensors`` file: the network's weights as tensors, and in the header's
metadata (key ``painterly``) a JSON record: the format, the network's description, the
painterly version, the style images with their SHA-256 and blend weights, and the training
settings and command. Loading reads the header and the tensors only; nothing is unpickled,
so a file from anyone is safe to open. Bundled models live in the package's ``models``
folder and are named by their stem (``starry_night``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from painterly.errors import InputError
from painterly.io import write_atomic
from painterly.transform import NetSpec, TransformNet

METADATA_KEY = "painterly"
FORMAT = 1
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Model:
    """A loaded model: the network (a frozen :class:`TransformNet` in eval mode, or a
    graph runtime's ``onnxrt.GraphNet``; either maps ``(N, 3, H, W)`` in [0, 1] to its
    stylisation), its record and where it came from."""

    net: Any
    record: dict[str, Any]
    source: str

    @property
    def name(self) -> str:
        return Path(self.source).stem


def save(path: str | os.PathLike, net: TransformNet, record: dict[str, Any]) -> Path:
    """Write ``net`` with ``record`` atomically; the record gains the format and the net."""
    target = Path(path)
    full = {**record, "format": FORMAT, "net": net.spec.to_dict()}
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()
    }
    data = safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(full, sort_keys=True)})
    write_atomic(target, lambda fh: fh.write(data), shared=True)
    return target


def bundled_dir() -> Path:
    """Where the bundled models are (inside the installed package)."""
    return Path(str(resources.files("painterly") / "models"))


def bundled() -> list[Path]:
    """The bundled model files, by name."""
    folder = bundled_dir()
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A model file: a path as given, else the bundled model of that name."""
    path = Path(name_or_path)
    if path.exists() or path.suffix or os.sep in str(name_or_path):
        return path
    candidate = bundled_dir() / f"{name_or_path}{SUFFIX}"
    if candidate.is_file():
        return candidate
    names = ", ".join(p.stem for p in bundled()) or "none are installed"
    raise InputError(f"model {str(name_or_path)!r}: no such file or bundled model ({names})")


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON record of a model file, checked; the tensors are not read."""
    source = Path(path)
    if not source.exists():
        raise InputError(f"{source}: no such model file")
    if source.is_dir():
        raise InputError(f"{source}: is a directory, not a model file")
    try:
        with safe_open(source, framework="pt") as fh:
            metadata = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{source}: not a model file ({_reason(exc)})") from None
    return parse_record(metadata, source, "a safetensors file")


def parse_record(metadata: dict[str, str], source: Path, kind: str) -> dict[str, Any]:
    """The checked JSON record in a model file's metadata (``kind`` names the container)."""
    if METADATA_KEY not in metadata:
        raise InputError(f"{source}: {kind}, but not a painterly model")
    try:
        record = json.loads(metadata[METADATA_KEY])
    except ValueError:
        raise InputError(f"{source}: its painterly record is not valid JSON") from None
    if not isinstance(record, dict):
        raise InputError(f"{source}: its painterly record is not a JSON object")
    if record.get("format") != FORMAT:
        raise InputError(f"{source}: unknown model format {record.get('format')!r}")
    if not isinstance(record.get("net"), dict):
        raise InputError(f"{source}: the record does not describe its network")
    return record


def load(name_or_path: str | os.PathLike, device: torch.device | str = "cpu") -> Model:
    """Load a model file or bundled model by name; every fault is one clear InputError."""
    source = resolve(name_or_path)
    record = read_record(source)
    net = TransformNet(NetSpec.from_dict(record["net"]))
    try:
        with safe_open(source, framework="pt") as fh:
            state = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118
        net.load_state_dict(state, strict=True)
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{source}: cannot read its weights ({_reason(exc)})") from None
    except RuntimeError:
        raise InputError(f"{source}: its weights do not fit the network it describes") from None
    if not all(torch.isfinite(t).all() for t in state.values()):
        raise InputError(f"{source}: its weights are not all finite")
    net.eval().requires_grad_(False)
    return Model(net.to(device), record, str(source))


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


__all__ = ["FORMAT", "Model", "bundled", "load", "read_record", "resolve", "save"]
