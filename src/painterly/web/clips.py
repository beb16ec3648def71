"""The studio's clips: a short video through a bundled trained style (the fast engine), run
as a job like a painting: queued, followed frame by frame, cancelled, downloaded.

A clip is checked when it arrives, before it is queued, so that a bad one is a clear 415 or
422 at once, never a failed run later: a video PyAV reads, with a video stream and frames,
frames of at most ``MAX_PIXELS``, within :class:`ClipLimits` (bytes, seconds, frames). It is
decoded to the end once (about 0.3 s for 10 s at 640x360), which counts its frames for the
progress, finds damaged data, and finds a file cut short: one whose packets stop well
before the duration its container states (a Matroska file cut short still plays up to the
cut; an MP4 cut short has lost its index and is not a video at all).

The run is ``video.run`` with ``video.FastFrames``, as ``painterly video --model`` runs it,
in a scratch folder inside the job's folder; the result (H.264, the clip's sound copied; an
MP4, or an MKV when MP4 cannot hold that sound) is moved into the job's folder only when
whole, and the scratch folder is removed however the run ends.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import HTTPException

from painterly import fast, io, video, videoio
from painterly.errors import InputError
from painterly.web.instant import COLOURS, bundled_model, form_choice, form_number
from painterly.web.jobs import CLIP, Report, Studio, Task, Upload, plain_message, save_preview
from painterly.web.store import result_name

MAX_SIDE = 640  # the long side a clip is painted at, at most: ~4 frames/s on two CPU cores
DEFAULT_SIDE = 512
MAX_PIXELS = 3840 * 2160  # larger frames (8.3 megapixels) are refused: decoding alone is slow
RESULT_FORMATS = ("mp4", "mkv")  # MP4 unless it cannot hold the clip's sound
SCRATCH = "render"  # the run's work folder inside the job's folder


@dataclass(frozen=True)
class ClipLimits:
    """The largest clip the studio takes: the upload's bytes, its length in seconds and in
    frames (a 60 frames/s clip is twice the work of a 30 frames/s one)."""

    max_bytes: int = 64 * 2**20
    max_seconds: float = 20.0
    max_frames: int = 600

    def __post_init__(self) -> None:
        if not (self.max_bytes > 0 and self.max_seconds > 0 and self.max_frames > 0):
            raise ValueError(f"clip limits must be positive: {self}")

    def to_dict(self) -> dict[str, Any]:
        """As ``GET /api/info`` shows them, with the fixed ones."""
        return {
            "available": video_available(),
            "max_bytes": self.max_bytes,
            "max_seconds": self.max_seconds,
            "max_frames": self.max_frames,
            "max_side": MAX_SIDE,
            "default_side": DEFAULT_SIDE,
            "max_pixels": MAX_PIXELS,
            "default_temporal": video.DEFAULT_TEMPORAL,
        }


def video_available() -> bool:
    """Whether the ``painterly[video]`` extra (PyAV, OpenCV) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("av", "cv2"))


def parse_options(form: Any) -> dict[str, Any]:
    """A clip job's settings from its form: ``model`` (a bundled model's name), ``size``
    (long side, at most MAX_SIDE; a smaller clip is kept as it is), ``temporal`` (0 to 1)
    and ``preserve_color``. 404 for an unknown model, 422 for a bad value (or the painting's
    palette asked of a model without one)."""
    name = str(form.get("model") or "")
    path = bundled_model(name)
    if path is None:
        raise HTTPException(404, f"no bundled model {name!r}")
    colour = form_choice(form, "preserve_color", COLOURS)
    if colour == "painting":  # a model without a palette: refused now, not as a failed job
        try:
            fast.model_palette(fast.load_model(path, "torch", "cpu"))
        except InputError as exc:
            raise HTTPException(422, _plain(exc, path)) from None
    return {
        "model": name,
        "size": form_number(form, "size", 32, MAX_SIDE, DEFAULT_SIDE),
        "temporal": form_number(form, "temporal", 0, 1, video.DEFAULT_TEMPORAL, float),
        "preserve_color": colour,
    }


def submit(
    studio: Studio, job_id: str, upload: Upload, options: dict[str, Any], limits: ClipLimits
) -> dict[str, Any]:
    """Check the saved clip (415 or 422 naming the file and the reason) and queue its job."""
    try:
        clip = check_clip(upload.path, limits)
        result_format = _result_format(upload.path, clip["audio"])
    except InputError as exc:
        raise HTTPException(415, f"clip {upload.name!r}: {_plain(exc, upload.path)}") from None
    except _TooLarge as exc:
        raise HTTPException(422, f"clip {upload.name!r}: {exc}") from None
    return studio.enqueue(job_id, [upload], CLIP, options, clip["frames"], result_format, clip=clip)


class _TooLarge(Exception):
    """The clip is readable but over a limit."""


def check_clip(path: Path, limits: ClipLimits) -> dict[str, Any]:
    """What the clip is (size, frames, seconds, rate, sound, rotation), after decoding it to
    the end. InputError when it is not a whole, readable video; _TooLarge over a limit."""
    info = videoio.Reader(path).info
    if info.width * info.height > MAX_PIXELS:
        raise _TooLarge(
            f"frames of {info.width}x{info.height}: the studio takes at most "
            f"{MAX_PIXELS / 1e6:.1f} megapixels (3840x2160)"
        )
    if info.duration is not None and info.duration > limits.max_seconds:
        raise _TooLarge(_too_long(info.duration, limits))
    frames, reached = videoio.scan(path, limits.max_frames)
    if frames > limits.max_frames:
        raise _TooLarge(f"more than {limits.max_frames} frames: the studio takes at most that many")
    if frames == 0:
        raise InputError("has no frames")
    seconds = info.duration if info.duration is not None else frames / float(info.rate)
    if seconds > limits.max_seconds:
        raise _TooLarge(_too_long(seconds, limits))
    if info.duration is not None and reached < info.duration - videoio.CUT_SHORT:
        raise InputError(
            f"cut short: its data ends at {reached:.1f} s of the {info.duration:.1f} s it states"
        )
    return {
        "width": info.width,
        "height": info.height,
        "frames": frames,
        "seconds": round(seconds, 3),
        "rate": round(float(info.rate), 3),
        "audio": info.audio,
        "rotation": info.rotation,
    }


def _too_long(seconds: float, limits: ClipLimits) -> str:
    return f"{seconds:.1f} s long: the studio takes clips of at most {limits.max_seconds:g} s"


def _plain(exc: InputError, path: Path) -> str:
    """The message without the server's paths (PyAV's reasons name the file too)."""
    return plain_message(exc).replace(str(path), path.name)


def _result_format(path: Path, audio: bool) -> str:
    """MP4, or MKV when MP4 cannot hold the clip's sound (copied as it is)."""
    for result_format in RESULT_FORMATS:
        try:
            output = path.with_name(result_name(result_format))
            videoio.check_container(output, videoio.DEFAULT_CODEC, path if audio else None)
        except InputError:
            continue
        return result_format
    raise InputError("its sound can go into neither an MP4 nor an MKV file")


# --- the run (the executor's side) ------------------------------------------------------------


class _Cancelled(Exception):
    """Raised from the frame callback to end a cancelled run."""


class _Shown(video.FastFrames):
    """The fast engine, keeping its last frame (and the photo it came from) for the preview."""

    last: tuple[np.ndarray, np.ndarray] | None = None

    def first(self, frame: np.ndarray, painted: np.ndarray | None = None) -> np.ndarray:
        out = super().first(frame, painted)
        self.last = (out, frame)
        return out

    def next(
        self,
        frame: np.ndarray,
        carried: video.Carried,
        temporal: float,
        painted: np.ndarray | None = None,
    ) -> np.ndarray:
        out = super().next(frame, carried, temporal, painted)
        self.last = (out, frame)
        return out


def execute(task: Task, report: Report, cancelled: Callable[[], bool]) -> str:
    """Run a clip task in this process; returns "done" or "cancelled".

    Reports each frame (``step`` of ``total``, ``elapsed``, ``eta``) and a preview JPEG of
    the latest frame at most every ``task.preview_interval`` seconds, and at the last frame.
    """
    options = task.settings
    try:
        reader = videoio.Reader(task.content)
        result_format = _result_format(task.content, reader.info.audio)
    except InputError as exc:
        raise InputError(f"the clip: {_plain(exc, task.content)}") from None
    path = bundled_model(options["model"])
    if path is None:
        raise InputError(f"no bundled model {options['model']!r}")
    info = reader.info
    vs = video.VideoSettings(
        size=options["size"] if options["size"] < max(info.width, info.height) else None,
        preserve_color=options["preserve_color"],
        temporal=options["temporal"],
        segment=video.frames_per_segment(float(info.rate), False),
    )
    engine = _Shown(fast.load_model(path, "auto", "auto"))
    scratch = task.folder / SCRATCH
    output = scratch / result_name(result_format)
    on_frame = _reporter(task, report, cancelled, engine, vs, info.rotation)
    scratch.mkdir(exist_ok=True)
    try:
        key = video.fingerprint(task.content, engine.record(), vs)
        video.run(reader, engine, output, vs, key, on_frame)
        os.replace(output, task.folder / output.name)
    except _Cancelled:
        return "cancelled"
    except InputError as exc:
        raise InputError(_plain(exc, task.content)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return "done"


def _reporter(
    task: Task,
    report: Report,
    cancelled: Callable[[], bool],
    engine: _Shown,
    vs: video.VideoSettings,
    rotation: int,
) -> Callable[[video.Progress], None]:
    """The frame callback: the job's progress, the preview now and then, and the stop."""
    shown = 0.0
    colours = engine.colours(vs.preserve_color)  # the frame as the clip will show it

    def on_frame(progress: video.Progress) -> None:
        nonlocal shown
        done = progress.frame + 1
        left = max(task.total - done, 0)
        fields: dict[str, Any] = {
            "step": done,
            "elapsed": round(progress.seconds, 3),
            "eta": round(progress.seconds / done * left, 1),
        }
        last = engine.last
        if last is not None and (not left or time.monotonic() - shown >= task.preview_interval):
            out = io.from_array(colours(*last))
            save_preview(task, upright(out, rotation))
            fields.update(preview=done, size=list(out.shape[-2:]))
            shown = time.monotonic()
        report(fields)
        if cancelled():
            raise _Cancelled

    return on_frame


def upright(image: torch.Tensor, rotation: int) -> torch.Tensor:
    """``image`` turned as a player shows it: ``rotation`` degrees counter-clockwise (a
    phone's portrait clip is stored on its side, with a rotation to show it at)."""
    turns = round(rotation / 90) % 4
    return torch.rot90(image, turns, dims=(-2, -1)) if turns else image


__all__ = [
    "DEFAULT_SIDE",
    "MAX_PIXELS",
    "MAX_SIDE",
    "ClipLimits",
    "check_clip",
    "execute",
    "parse_options",
    "submit",
    "upright",
    "video_available",
]
