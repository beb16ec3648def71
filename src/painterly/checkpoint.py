"""Checkpoints: everything needed to finish an interrupted run, written atomically.

A checkpoint holds the optimisation state (scale, image, optimiser state, step, learning rate),
the settings with the resolved seed, the inputs (paths) with their SHA-256 (a changed input
refuses to resume), the output path, torch's RNG state, the record for the output and the
loss history so far (``curves.History.to_dict()``; absent from older checkpoints) and how
the output is written (``io.OutputOptions``; absent from older checkpoints: the defaults).
Format 1 (before inputs were apart from settings) is read and converted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from painterly.errors import InputError
from painterly.inputs import Inputs
from painterly.io import OutputOptions, sha256_file, write_atomic
from painterly.optimize import RunState
from painterly.settings import INITS, WEIGHT_SOURCES, Settings
from painterly.version import __version__

FORMAT = 2


@dataclass(frozen=True)
class Checkpoint:
    """A resumable run: inputs, output, settings and the optimisation state."""

    inputs: Inputs
    output: str
    settings: Settings
    every: int
    state: RunState
    checksums: dict[str, str]
    record: dict[str, Any]
    torch_rng: torch.Tensor | None = None  # torch's global RNG state when saved
    history: dict[str, Any] | None = None  # the losses so far, for the curves (--plot)
    options: OutputOptions = OutputOptions()  # bits a channel and dpi of the output


def checksums(paths: list[str]) -> dict[str, str]:
    """SHA-256 of each input file, by the path as given."""
    return {p: sha256_file(Path(p)) for p in dict.fromkeys(paths)}


def save(path: str | os.PathLike, ck: Checkpoint) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename over ``path``."""
    target = Path(path)
    payload = {
        "format": FORMAT,
        "version": __version__,
        "inputs": ck.inputs.record(),
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
        "history": ck.history,
        "output_options": ck.options.to_dict(),
    }
    write_atomic(target, lambda fh: torch.save(payload, fh))


def load(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint and check that its inputs are still there, unchanged."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such checkpoint")
    try:
        raw = torch.load(source, map_location="cpu", weights_only=True)
        if not isinstance(raw, dict) or raw.get("format") not in (1, FORMAT):
            raise ValueError("unknown layout")
        if raw["format"] == 1:
            raw = _from_format_1(raw)
        ck = _checkpoint(raw)
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


def _checkpoint(raw: dict[str, Any]) -> Checkpoint:
    state = RunState(
        step=int(raw["step"]),
        image=raw["image"],
        optimizer=raw["optimizer"],
        lr=float(raw["lr"]),
        scale=int(raw["scale"]),
        average=raw["average"],
        average_count=int(raw["average_count"]),
    )
    return Checkpoint(
        inputs=Inputs.from_record(raw["inputs"]),
        output=raw["output"],
        settings=Settings.from_dict(raw["settings"]),
        every=int(raw["every"]),
        state=state,
        checksums=dict(raw["checksums"]),
        record=dict(raw["record"]),
        torch_rng=raw["torch_rng"],
        history=raw.get("history"),
        options=OutputOptions(**raw.get("output_options", {})),
    )


def _from_format_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 kept the inputs that were files among the settings (mask, style_mask, an
    init or weights path): move them to the inputs."""
    settings = dict(raw["settings"])
    inputs: dict[str, Any] = {"content": raw["content"], "styles": raw["styles"]}
    if settings.get("mask") is not None:
        inputs["mask"] = settings["mask"]
    if settings.get("style_mask") is not None:
        inputs["style_masks"] = settings["style_mask"]
    settings.pop("mask", None)
    settings.pop("style_mask", None)
    if settings.get("init") not in INITS:
        inputs["init_image"], settings["init"] = settings["init"], INITS[0]
    if settings.get("weights") not in WEIGHT_SOURCES:
        inputs["weights_file"], settings["weights"] = settings["weights"], WEIGHT_SOURCES[0]
    return {**raw, "inputs": inputs, "settings": settings}
