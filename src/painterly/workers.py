"""A batch worker: one engine, loaded once, then item after item.

The engine is a trained model (the feed-forward engine) or VGG19 with the optimisation
settings. :class:`Engine` says which, and carries the style images or model files as bytes,
so a worker on another machine needs painterly installed and nothing else. A :class:`Task`
is one photo × one style; the photo comes as bytes from the driver or is read by the worker
from a path that both see, and the result goes back as bytes or is written there.

One bad item never stops a worker: every failure of an item becomes its :class:`Result`'s
one-line ``error``. Workers are plain objects: batch.py runs one in the driver's process or
one per process, cluster.py one per Ray actor.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from painterly import api, fast, io, weights
from painterly.errors import InputError, NumericsError
from painterly.features import VGGFeatures
from painterly.inputs import Inputs
from painterly.settings import Settings
from painterly.version import __version__

ENGINES = ("fast", "optimise")


@dataclass(frozen=True)
class Style:
    """One style of a batch: its name in output names, its file's name and bytes (a
    painting, or a model file), and the bytes' SHA-256."""

    name: str
    file: str
    data: bytes = field(repr=False)
    sha256: str


@dataclass(frozen=True)
class Engine:
    """What every worker loads once. ``fast``: ``styles`` are model files, applied at
    ``size`` (None: the photo's size) on ``runtime``; ``optimise``: ``styles`` are
    paintings, and ``settings`` (a Settings dict) is the recipe. ``threads``: torch's
    threads in the worker (None: torch's default). ``output``: how results are written
    (bits a channel, dpi)."""

    kind: str
    styles: tuple[Style, ...]
    settings: dict[str, Any]
    size: int | None = None
    preserve_color: str = "none"
    runtime: str = "auto"
    device: str = "auto"
    threads: int | None = None
    output: io.OutputOptions = io.OutputOptions()

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise InputError(f"engine {self.kind!r}: expected one of {', '.join(ENGINES)}")

    def fingerprint(self) -> dict[str, Any]:
        """What decides an item's output besides the photo and the style's bytes (a rerun
        redoes an item when this changed)."""
        if self.kind == "fast":
            found = {"engine": "fast", "size": self.size, "preserve_color": self.preserve_color}
        else:
            found = {"engine": "optimise", **self.settings}
        if self.output != io.OutputOptions():  # so that older manifests still match
            found["output"] = self.output.to_dict()
        return found


@dataclass(frozen=True)
class Task:
    """One item. ``key``: the output's path inside the output folder; ``source``: the
    photo's path; ``data``: its bytes, when the driver sends them (else the worker reads
    ``source``); ``target``: where the worker writes the result itself (else it returns the
    bytes)."""

    key: str
    source: str
    style: str
    data: bytes | None = field(default=None, repr=False)
    target: str | None = None


@dataclass(frozen=True)
class Result:
    """How an item went: ``error`` None when done; ``data``: the encoded result when it goes
    back to the driver; ``worker``: host and process that ran it."""

    key: str
    error: str | None
    seconds: float
    data: bytes | None = field(default=None, repr=False)
    worker: str = ""


class Worker:
    """Loads the engine once; :meth:`run` stylises one item and never raises for an item's
    failure (only KeyboardInterrupt and the like pass)."""

    def __init__(self, engine: Engine) -> None:
        if engine.threads is not None:
            torch.set_num_threads(engine.threads)
        self.engine = engine
        self.where = f"{socket.gethostname()}:{os.getpid()}"
        self._folder = tempfile.TemporaryDirectory(prefix="painterly-worker-")
        self.styles = {s.name: self._materialise(s) for s in engine.styles}
        self.settings = Settings.from_dict(engine.settings)
        self.max_pixels = self.settings.max_input_pixels
        if engine.kind == "fast":
            self.models = {
                name: fast.load_model(path, engine.runtime, engine.device, engine.threads)
                for name, path in self.styles.items()
            }
        else:  # VGG19, loaded once and shared by every item
            s = self.settings
            layers = s.content_layers + s.style_layers
            self.extractor = VGGFeatures(weights.load(s.weights), layers, pooling=s.pooling)

    def _materialise(self, style: Style) -> str:
        """A path to the style's file in this worker's private folder."""
        folder = Path(self._folder.name) / str(len(os.listdir(self._folder.name)))
        folder.mkdir()  # one each: the file keeps its name (a model's name is its stem)
        path = folder / style.file
        path.write_bytes(style.data)
        return str(path)

    def run(self, task: Task) -> Result:
        began = time.perf_counter()
        try:
            image = self._read(task)
            out, record = self._stylize(image, task)
            exif = io.camera_exif(task.data if task.data is not None else task.source)
            data = io.encode_image(
                out, Path(task.key).suffix, record, options=self.engine.output, exif=exif
            )
            if task.target is not None:
                target = Path(task.target)
                target.parent.mkdir(parents=True, exist_ok=True)
                io.write_atomic(target, lambda fh: fh.write(data), shared=True)
                data = None
            return Result(task.key, None, time.perf_counter() - began, data, self.where)
        except (InputError, NumericsError) as exc:
            error = str(exc)
        except Exception as exc:  # one bad item must not stop the batch
            error = f"{type(exc).__name__}: {exc}"
        return Result(task.key, one_line(error), time.perf_counter() - began, None, self.where)

    def _read(self, task: Task) -> torch.Tensor:
        if task.data is not None:
            return io.decode_image(task.data, task.source, self.max_pixels)
        return io.load_image(task.source, self.max_pixels)

    def _stylize(self, image: torch.Tensor, task: Task) -> tuple[torch.Tensor, dict[str, Any]]:
        if task.style not in self.styles:
            raise InputError(f"style {task.style!r} is not one of this batch's")
        if self.engine.kind == "fast":
            model = self.models[task.style]
            out = fast.apply(model, fast.fit(image, self.engine.size), self.engine.preserve_color)
            return out, fast.apply_record(model, task.source)
        path = self.styles[task.style]
        job = api.prepare(Inputs.of(image, path), self.settings, extractor=self.extractor)
        (last,) = deque(job.run(), maxlen=1)  # the final step (steps >= 1 is validated)
        record = {
            **job.record,
            "version": __version__,
            "content": task.source,
            "styles": [[task.style, 1.0]],
        }
        return last.image(), record


def one_line(text: str) -> str:
    """A message on one line (a manifest record and the summary keep one line per item)."""
    return " ".join(str(text).split()) or "failed"


__all__ = ["ENGINES", "Engine", "Result", "Style", "Task", "Worker", "one_line"]
