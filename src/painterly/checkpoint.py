"""Checkpoints: everything needed to finish an interrupted CLI run, written atomically.

A checkpoint holds the optimisation state (scale, image, optimiser state, step, learning rate),
the settings with the resolved seed, the input paths with their SHA-256 (a changed input
refuses to resume), the output path, torch's RNG state and the record for the output.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from painterly.io import sha256_file
from painterly.optimize import RunState
from painterly.settings import InputError, Settings
from painterly.version import __version__

FORMAT = 1


@dataclass(frozen=True)
class Checkpoint:
    """A resumable run: inputs, output, settings and the optimisation state."""

    content: str
    styles: tuple[tuple[str, float], ...]
    output: str
    settings: Settings
    every: int
    state: RunState
    checksums: dict[str, str]
    record: dict[str, Any]
    torch_rng: torch.Tensor | None = None  # torch's global RNG state when saved


def checksums(paths: list[str]) -> dict[str, str]:
    """SHA-256 of each input file, by the path as given."""
    return {p: sha256_file(Path(p)) for p in dict.fromkeys(paths)}


def save(path: str | os.PathLike, ck: Checkpoint) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename over ``path``."""
    target = Path(path)
    payload = {
        "format": FORMAT,
        "version": __version__,
        "content": ck.content,
        "styles": [list(s) for s in ck.styles],
        "output": ck.output,
        "settings": ck.settings.to_dict(),
        "every": ck.every,
        "step": ck.state.step,
        "scale": ck.state.scale,
        "average": ck.state.average,
        "average_count": ck.state.average_count,
        "image": ck.state.image,
        "optimizer": ck.state.optimizer,
        "lr": ck.state.lr,
        "checksums": ck.checksums,
        "record": ck.record,
        "torch_rng": ck.torch_rng if ck.torch_rng is not None else torch.get_rng_state(),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint and check that its inputs are still there, unchanged."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such checkpoint")
    try:
        raw = torch.load(source, map_location="cpu", weights_only=True)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError("unknown layout")
        settings = Settings(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw["settings"].items()}
        )
        state = RunState(
            int(raw["step"]),
            raw["image"],
            raw["optimizer"],
            float(raw["lr"]),
            int(raw["scale"]),
            raw["average"],
            int(raw["average_count"]),
        )
        ck = Checkpoint(
            raw["content"],
            tuple((str(p), float(w)) for p, w in raw["styles"]),
            raw["output"],
            settings,
            int(raw["every"]),
            state,
            dict(raw["checksums"]),
            dict(raw["record"]),
            raw["torch_rng"],
        )
    except InputError:
        raise
    except Exception as exc:  # any reader failure means: not a checkpoint we can use
        raise InputError(f"{source}: not a painterly checkpoint ({type(exc).__name__})") from None
    for file, digest in ck.checksums.items():
        if not Path(file).is_file():
            raise InputError(f"{source}: input {file} is gone; cannot resume")
        if sha256_file(Path(file)) != digest:
            raise InputError(f"{source}: input {file} changed since the checkpoint; cannot resume")
    return ck
