"""Stylising a clip frame after frame with either engine, consistent over time, resumable.

Per-frame stylisation flickers: small changes between frames flip the texture. After Ruder,
Dosovitskiy & Brox (2016), each frame is tied to the previous result carried along the
optical flow (DIS, computed on the *input* frames, from this frame back to the previous),
where a forward/backward check says the flow can be trusted:

- **fast engine** (a trained network): the network's output is blended with the previous
  output warped to this frame, ``a * warped + (1 - a) * out`` with ``a = temporal * mask``;
- **optimisation engine**: the first frame is a still (coarse to fine); every next frame
  starts from the warped previous result (the photo where the flow is not trusted) and
  runs ``frame_steps`` steps with a temporal term, ``weight * mean(mask * (x - warped)^2)``,
  beside content, style and TV: most of them at the still's next coarser scale where it
  has one, then the rest at full size from the warped result where it is trusted and the
  enlarged coarse result elsewhere (:func:`frame_schedule`). The style targets are
  computed once, for the whole clip.

``temporal`` 0 turns both off: frame by frame. ``luminance`` colour keeps each frame's
colours (the result's brightness with the photo's chroma), after the temporal step.
``painting`` gives every frame the painting's palette as a still gets it: the fast engine
recolours its result (the model's palette, as ``painterly apply`` does), the optimisation
engine paints each frame recoloured (as its stills do).

Resuming: the work folder beside the output (``.OUTPUT.painterly-video``) holds finished
segments (a few frames each, already encoded), the last result frame and a state file.
A killed run, rerun with the same command, continues after the last finished segment; the
output is assembled (with the sound) only at the end. Memory does not grow with the clip.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import math
import shutil
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from painterly import api, fast, flow, io, videoio
from painterly.errors import InputError, InputNotice
from painterly.image import (
    RGB_TO_YIQ,
    fit_size,
    palette,
    recolour,
    resize,
)
from painterly.inputs import Inputs
from painterly.objective import Objective, Term
from painterly.optimize import descend, upscale
from painterly.settings import APPLY_COLOUR_MODES, Settings

COLOURS = APPLY_COLOUR_MODES
TEMPORAL_WEIGHT = 200.0  # the temporal term's weight at --temporal 1 (docs/video.md)
DEFAULT_TEMPORAL = 0.6
DEFAULT_FRAME_STEPS = 24  # 16 at the next coarser scale, 8 at full size (docs/video.md)
DEFAULT_FLOW_SCALE = 0.5  # flows at half the frame's size: a quarter of the cost (docs/video.md)
STATE = "state.json"


@dataclass(frozen=True)
class VideoSettings:
    """How a clip is made, beside the engine's own settings. ``size``: long side (None:
    the clip's); ``temporal``: 0 (frame by frame) to 1; ``frame_steps``: optimisation
    steps per frame after the first; ``segment``: frames per resumable segment;
    ``preset``: x264's or x265's speed preset (None: the encoder's own, medium)."""

    size: int | None = None
    preserve_color: str = "none"
    temporal: float = DEFAULT_TEMPORAL
    flow: str = "medium"
    frame_steps: int = DEFAULT_FRAME_STEPS
    codec: str = videoio.DEFAULT_CODEC
    crf: int = videoio.DEFAULT_CRF
    segment: int = 24
    flow_scale: float = DEFAULT_FLOW_SCALE
    preset: str | None = None

    def __post_init__(self) -> None:
        videoio.check_preset(self.codec, self.preset)
        if not 0.1 <= self.flow_scale <= 1:
            raise InputError(f"--flow-scale {self.flow_scale}: must be between 0.1 and 1")
        if self.preserve_color not in COLOURS:
            raise InputError(
                f"--preserve-color {self.preserve_color}: video takes {', '.join(COLOURS)}"
            )
        if not 0 <= self.temporal <= 1:
            raise InputError(f"--temporal {self.temporal}: must be between 0 and 1")
        if self.frame_steps < 1:
            raise InputError(f"--frame-steps {self.frame_steps}: must be at least 1")
        if self.segment < 1:
            raise ValueError(f"segment={self.segment}: must be at least 1")
        if self.size is not None and self.size < 16:
            raise InputError(f"--size {self.size}: must be at least 16")
        if not 0 <= self.crf <= 63:
            raise InputError(f"--crf {self.crf}: must be between 0 and 63")


# A later frame's steps run coarse to fine where its still has a coarser scale: this share
# of them at that scale (a quarter to a half of the pixels), the rest at full size
# (docs/video.md).
FRAME_COARSE_SHARE = 2 / 3


def frame_schedule(steps: int, scales: int) -> tuple[int, int]:
    """A later frame's ``steps`` as (at the still's next coarser scale, at full size), for a
    still of ``scales`` scales: all at full size when there is no coarser scale."""
    if scales < 2 or steps < 2:
        return 0, steps
    coarse = min(steps - 1, round(steps * FRAME_COARSE_SHARE))
    return coarse, steps - coarse


# Frames travel as (H, W, 3) uint8 RGB pixels, from the decoder through the engine to the
# encoder: as they are read and written, with no torch in the fast engine's loop (its
# threads would spin beside the runtime's; docs/video.md). The optimisation engine makes
# tensors of them.

# The previous result carried along the flow to this frame (pixels), and where the flow is
# trusted (H, W) float32: the flows computed ahead in a thread (waited for on call), the
# warp made on call.
Carried = Callable[[], tuple[np.ndarray, np.ndarray]]


# A frame as the reader gives it (index, pixels fitted to --size, timestamp).
Item = tuple[int, np.ndarray, Any]

# A finished frame (the engine's result, after the temporal step) and the input frame it
# was painted from -> the frame as it is shown, in the run's colours (engine.colours).
Shown = Callable[[np.ndarray, np.ndarray], np.ndarray]


class FastFrames:
    """The feed-forward engine, frame by frame; :meth:`ahead` paints the next frames while
    the run blends, colours and writes this one."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def ahead(self, items: Iterable[Item]) -> Iterator[tuple[Item, np.ndarray | None]]:
        """Each item with the network's painting of its frame, painted in lanes a few frames
        ahead (``onnxrt.GraphNet.stream_pixels``: 1.1 to 1.35x the frames per second of one
        frame at a time on two cores) on ONNX Runtime or OpenVINO; on PyTorch, or from a
        frame so large that it runs in tiles, None: :meth:`first` and :meth:`next` paint
        them."""
        rest = iter(items)
        head = next(rest, None)
        if head is None:
            return
        stream = getattr(self.model.net, "stream_pixels", None)  # a graph runtime's lanes
        held: list[Item] = []
        if stream is not None and not self._tiled(head[1]):
            waiting: deque[Item] = deque()

            def frames() -> Iterator[np.ndarray]:
                for item in itertools.chain([head], rest):
                    resized = item[1].shape != head[1].shape
                    if resized and self._tiled(item[1]):
                        held.append(item)  # this one and the rest, one by one
                        return
                    waiting.append(item)
                    yield item[1]

            for painted in stream(frames()):
                yield waiting.popleft(), painted
        else:
            held.append(head)
        for item in itertools.chain(held, rest):
            yield item, None

    def _tiled(self, frame: np.ndarray) -> bool:
        return fast.needs_tiles(self.model, torch.from_numpy(frame).permute(2, 0, 1)[None])

    def first(self, frame: np.ndarray, painted: np.ndarray | None = None) -> np.ndarray:
        if painted is not None:
            return painted
        return io.to_array(fast.apply(self.model, io.from_array(frame)))

    def next(
        self,
        frame: np.ndarray,
        carried: Carried,
        temporal: float,
        painted: np.ndarray | None = None,
    ) -> np.ndarray:
        out = self.first(frame, painted)  # the flows are computed in a thread meanwhile
        warped, trust = carried()
        a = temporal * trust
        # a * warped + (1 - a) * out, rounded to uint8 (OpenCV, in one pass)
        return flow.require_cv2().blendLinear(warped, out, a, 1 - a)

    def colours(self, mode: str) -> Shown:
        """How a finished frame is shown in colour ``mode``: ``painting`` recolours it with
        the model's palette, as ``painterly apply`` does (a model without one is refused
        here, in one line, before any frame is painted)."""
        if mode != "painting":
            return frame_colours(mode)
        return _in_palette(*fast.model_palette(self.model))

    def record(self) -> dict[str, Any]:
        return {"model": self.model.name, "model_record": self.model.record}


class OptimFrames:
    """The optimisation engine: the first frame as a still, then ``steps`` steps a frame
    against the same style targets, with the temporal term."""

    def __init__(
        self, styles: tuple[tuple[str, float], ...], settings: Settings, steps: int
    ) -> None:
        self.styles, self.settings, self.steps = styles, settings, steps
        self.job: api.Job | None = None

    def _prepare(self, frame: torch.Tensor) -> api.Job:
        """A still's job for ``frame``; the first one also gives the clip its style targets
        (and loads VGG19), which every later frame shares."""
        extractor = self.job.extractor if self.job is not None else None
        job = api.prepare(Inputs.of(frame, self.styles), self.settings, extractor=extractor)
        if self.job is None:
            self.job = job
        return job

    @staticmethod
    def ahead(items: Iterable[Item]) -> Iterator[tuple[Item, None]]:
        """Each item as it comes: every frame starts from the one before."""
        for item in items:
            yield item, None

    def first(self, frame: np.ndarray, painted: None = None) -> np.ndarray:
        """``frame`` as a still, coarse to fine."""
        (last,) = deque(self._prepare(io.from_array(frame)).run(), maxlen=1)
        return io.to_array(last.image())

    def next(
        self, frame: np.ndarray, carried: Carried, temporal: float, painted: None = None
    ) -> np.ndarray:
        image = io.from_array(frame)
        job = self.job if self.job is not None else self._prepare(image)  # resumed
        if job.settings.preserve_color == "painting":  # as the still's colour mode did frame 0
            image = recolour(image, *palette(job.styles))
        moved, trusted = carried()
        device = job.content.device
        frame = image.to(device)
        warped = io.from_array(moved).to(device)
        trust = torch.from_numpy(trusted)[None, None].to(device)
        coarse, fine = frame_schedule(self.steps, len(job.stages))
        fill = None
        if coarse:  # the frame's own coarse to fine: first at the still's next coarser scale
            stage = job.stages[-2]
            size = fit_size(*frame.shape[-2:], max(stage.size))
            small = self._descend(
                job, stage.targets, *(resize(x, size) for x in (frame, warped, trust)),
                temporal, coarse,
            )  # fmt: skip
            fill = upscale(small, frame)
        last = job.stages[-1].targets
        return io.to_array(self._descend(job, last, frame, warped, trust, temporal, fine, fill))

    @staticmethod
    def _descend(
        job: api.Job,
        targets: Any,
        frame: torch.Tensor,
        warped: torch.Tensor,
        trust: torch.Tensor,
        temporal: float,
        steps: int,
        fill: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``steps`` steps at ``frame``'s size against ``targets`` (style at that scale), with
        the temporal term, from the warped result where it is trusted and ``fill`` (default:
        the photo) elsewhere."""
        terms = {}
        if temporal > 0:

            def loss(images: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
                return (trust * (images - warped).pow(2)).mean()

            terms["temporal"] = Term(temporal * TEMPORAL_WEIGHT, loss)
        assert targets is not None
        objective = Objective(job.extractor, targets, job.settings, job.autocast, terms)
        start = trust * warped + (1 - trust) * (frame if fill is None else fill)
        stepping = descend(objective, frame, job.settings, start.contiguous(), steps)
        try:
            while True:
                next(stepping)
        except StopIteration as end:
            return end.value.detach().clamp(0, 1)

    def colours(self, mode: str) -> Shown:
        """How a finished frame is shown in colour ``mode``; in ``painting`` (which the
        settings must hold too) each frame was recoloured before it was painted."""
        if (mode == "painting") != (self.settings.preserve_color == "painting"):
            raise ValueError(f"colour {mode} in a run whose settings paint in another")
        return frame_colours("none" if mode == "painting" else mode)

    def record(self) -> dict[str, Any]:
        return {
            "styles": [[str(s), w] for s, w in self.styles],
            "settings": self.settings.to_dict(),
        }


# --- the run -------------------------------------------------------------------------------


@dataclass
class Progress:
    """After each frame: its index, how many there are (None: unknown) and the seconds
    the run has taken so far."""

    frame: int
    total: int | None
    seconds: float


@dataclass(frozen=True)
class Pace:
    """What a run painted: the frames of this run (a resumed run's earlier ones not
    counted) and the seconds from the start of its frame loop to the last one written."""

    frames: int
    seconds: float


def fingerprint(source: Path, engine: dict[str, Any], vs: VideoSettings) -> str:
    """What a resumed run must share with the one that started: the clip's bytes (size and
    time; for a folder, of every file in it), the engine and the settings."""
    files = sorted(source.iterdir()) if source.is_dir() else [source]  # a folder: its frames
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()]
    settings = dataclasses.asdict(vs)
    if settings["preset"] is None:  # as before --preset existed: those runs still resume
        del settings["preset"]
    keys = {"source": str(source.resolve()), "files": stats, "engine": engine, "video": settings}
    return hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()


def work_folder(output: Path) -> Path:
    """Where a run on ``output`` keeps its finished segments and state (beside it)."""
    return output.with_name(f".{output.name}.painterly-video")


def _state(folder: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


class Work:
    """The work folder of a run: finished segments, the last result frame, the state."""

    def __init__(self, output: Path, key: str) -> None:
        self.folder = work_folder(output)
        self.key = key
        state = self._read()
        if state is None or state.get("key") != key:
            shutil.rmtree(self.folder, ignore_errors=True)
            state = {"key": key, "frames": 0, "segments": []}
        self.folder.mkdir(exist_ok=True)
        self.frames: int = state["frames"]
        self.segments: list[str] = state["segments"]
        for stray in self.folder.glob("*.part*"):  # a segment cut short by a kill
            stray.unlink()
        for stray in output.parent.glob(f".{output.name}.*.part"):  # an assembly cut short
            stray.unlink()

    def _read(self) -> dict[str, Any] | None:
        return _state(self.folder)

    @staticmethod
    def peek(output: Path, key: str) -> int:
        """Frames a killed run with ``key`` finished into ``output``'s work folder (0: none,
        or another run's)."""
        state = _state(work_folder(output))
        if state is None or state.get("key") != key:
            return 0
        return int(state.get("frames", 0))

    @property
    def last_path(self) -> Path:
        """The result of the last finished frame (the warp's source when resuming): its
        pixels as a NumPy file, written in a quarter of a millisecond where a PNG took 80
        (a run before 2026-12-03 left a PNG: :meth:`last` reads that too)."""
        return self.folder / f"last_{self.frames:06d}.npy"

    def last(self) -> np.ndarray | None:
        """The last finished frame's result, None when there is none (or it is unreadable:
        the run then starts afresh)."""
        try:
            pixels = np.load(self.last_path, allow_pickle=False)
        except FileNotFoundError:
            older = self.last_path.with_suffix(".png")
            try:
                return io.to_array(io.load_image(older)) if older.is_file() else None
            except InputError:
                return None
        except (OSError, ValueError, EOFError):
            return None
        ok = pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        return pixels if ok else None

    def commit(self, segment: Path | None, frames: int, last: np.ndarray) -> None:
        """A finished segment: in place, with the last result frame and the frame count.
        The state file is the one commit point: it names only files already written."""
        before = self.last_path
        if segment is not None:
            final = segment.with_name(segment.name.replace(".part", ""))
            segment.rename(final)
            self.segments.append(final.name)
        self.frames = frames
        io.write_atomic(self.last_path, lambda fh: np.save(fh, last, allow_pickle=False))
        state = {"key": self.key, "frames": frames, "segments": self.segments}
        io.write_atomic(self.folder / STATE, lambda fh: fh.write(json.dumps(state).encode()))
        if before != self.last_path:
            before.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def run(
    reader: videoio.Reader,
    engine: FastFrames | OptimFrames,
    output: Path,
    vs: VideoSettings,
    key: str,
    on_frame: Callable[[Progress], None] | None = None,
) -> Pace:
    """Stylise every frame of ``reader`` into ``output`` (a video file, with the sound, or a
    folder of frames), resuming a run with the same ``key`` from its work folder."""
    to_folder = output.is_dir() or not output.suffix
    if to_folder and output.is_dir() and Work.peek(output, key) == 0:
        stale = next((p for p in output.iterdir() if videoio.FRAME_PATTERN.match(p.name)), None)
        if stale is not None:
            raise InputError(
                f"{output}: already holds frames ({stale.name}, ...) of another run; choose "
                "an empty folder or remove them"
            )
    folder = work_folder(output)
    lock = folder.with_name(folder.name + ".lock")
    # OpenCV one thread a call, from the first run on (only the video runs use OpenCV): the
    # run's own threads keep every core busy, and OpenCV's pool beside them cost 5% of the
    # frames/s on two cores (docs/video.md); left so, as runs may overlap in the studio
    flow.require_cv2().setNumThreads(1)
    shown = engine.colours(vs.preserve_color)  # a model without a palette: refused here
    with io.Exclusive(lock, f"{output}: another painterly video is writing it"):
        pace = _run(reader, engine, output, vs, key, on_frame, to_folder, shown)
    lock.unlink(missing_ok=True)
    return pace


def _run(
    reader: videoio.Reader,
    engine: FastFrames | OptimFrames,
    output: Path,
    vs: VideoSettings,
    key: str,
    on_frame: Callable[[Progress], None] | None,
    to_folder: bool,
    shown_as: Shown,
) -> Pace:
    began = time.perf_counter()
    work = Work(output, key)
    estimator = flow.Flow(vs.flow)
    info = reader.info
    previous = _resume_point(reader, work, vs)
    encoder: videoio.Encoder | None = None
    segment: Path | None = None
    last_raw = previous[1] if previous else None
    done = start = work.frames
    # Two helper threads beside the engine (OpenCV and PyAV release the GIL): the flows of a
    # frame (from the input frames alone) are computed as soon as it is read, while the
    # engine paints it or the ones before it; the frames are encoded (or saved) and the
    # finished segments committed while the next ones are painted. The fast engine on a
    # graph runtime also paints the next frames in its own lanes (engine.ahead), so every
    # part of a frame but the warp and the blend runs ahead of them (docs/video.md).
    with ThreadPoolExecutor(1, "painterly-flow") as flows, Writer() as writer:

        def read() -> Iterator[Item]:
            prev_gray = previous[0] if previous else None
            for index, pixels, pts in reader.pixels(work.frames):
                frame = fit(pixels, vs.size)
                gray = flow.gray(frame)
                motion = None
                if vs.temporal > 0 and prev_gray is not None and prev_gray.shape == gray.shape:
                    motion = flows.submit(_flows, estimator, gray, prev_gray, vs.flow_scale)
                prev_gray = gray
                yield index, frame, (pts, motion)

        for (index, frame, (pts, motion)), painted in engine.ahead(read()):
            if motion is None or last_raw is None or last_raw.shape != frame.shape:
                raw = engine.first(frame, painted)  # the first frame, or frame by frame
            else:
                carried = functools.partial(_carry, motion, last_raw)
                raw = engine.next(frame, carried, vs.temporal, painted)
            shown = shown_as(raw, frame)
            if to_folder:
                output.mkdir(exist_ok=True)
                path = output / videoio.FRAME_NAME.format(index)
                writer.submit(io.save_image, Image.fromarray(shown), path)
            else:
                if encoder is None:
                    segment = work.folder / f"seg_{index:06d}.part.mp4"
                    encoder = _encoder(segment, info, shown, vs, first=index == 0)
                writer.submit(encoder.write, shown, pts if pts is not None else index)
            done = index + 1
            last_raw = raw
            if to_folder or done % vs.segment == 0:
                if encoder is not None:
                    writer.submit(encoder.close)
                    encoder = None
                writer.submit(work.commit, None if to_folder else segment, done, last_raw)
                writer.wait(keep=vs.segment + 2)  # a segment behind at most: memory is bounded
            if on_frame is not None:
                on_frame(Progress(index, info.frames, time.perf_counter() - began))
        if encoder is not None:
            writer.submit(encoder.close)
            writer.submit(work.commit, segment, done, last_raw)
        writer.wait()
    seconds = time.perf_counter() - began  # the loop, its last frames written
    if done == 0:
        raise InputError(f"{reader.path}: has no frames")
    if not to_folder:
        segments = [work.folder / name for name in work.segments]
        videoio.assemble(segments, output, info, reader.path if info.audio else None)
    work.remove()
    return Pace(done - start, seconds)


def frame_colours(mode: str) -> Shown:
    """How a finished frame is shown in ``none`` or ``luminance`` colour."""
    return _content_colour if mode == "luminance" else _as_painted


def _as_painted(pixels: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return pixels


def _in_palette(mean: torch.Tensor, cov: torch.Tensor) -> Shown:
    """:func:`painterly.image.recolour` to the palette ``mean``, ``cov`` on 8-bit pixels, in
    NumPy and OpenCV (torch's threads in the frame loop would spin beside the runtime's: two
    fifths of the frames/s at 640x360, docs/video.md): each frame's map from the moments of
    about 16k of its pixels (every n-th row and column), applied in one pass, rounded and
    saturated; the palette's side of it computed once."""
    eye = 1e-5 * np.eye(3)
    target = _sqrtm(cov.double().numpy() + eye)
    centre = mean.double().numpy().ravel()

    def shown(pixels: np.ndarray, frame: np.ndarray) -> np.ndarray:
        step = max(1, math.isqrt(pixels.shape[0] * pixels.shape[1] // 16384))
        sample = pixels[::step, ::step].reshape(-1, 3) / 255.0
        mu = sample.mean(axis=0)
        centred = sample - mu
        own = centred.T @ centred / max(1, len(sample) - 1)
        a = target @ np.linalg.inv(_sqrtm(own + eye))
        b = centre - a @ mu
        return flow.require_cv2().transform(pixels, np.concatenate([a, 255 * b[:, None]], 1))

    return shown


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


# --preserve-color luminance as two linear maps of RGB (image.with_content_colour): the
# result's Y and the photo's I and Q of YIQ, each back in RGB.
_YIQ = RGB_TO_YIQ.double().numpy()
_RESULT_Y = np.linalg.inv(_YIQ) @ np.diag([1.0, 0.0, 0.0]) @ _YIQ
_PHOTO_IQ = np.linalg.inv(_YIQ) @ np.diag([0.0, 1.0, 1.0]) @ _YIQ


def _content_colour(pixels: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """``pixels``' brightness with ``frame``'s colours (``--preserve-color luminance``):
    :func:`painterly.image.with_content_colour` in OpenCV, without torch in the frame loop
    (as :func:`_in_palette`)."""
    cv2 = flow.require_cv2()
    out = cv2.transform(pixels.astype(np.float32), _RESULT_Y)
    out += cv2.transform(frame.astype(np.float32), _PHOTO_IQ)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _flows(
    estimator: flow.Flow, gray: np.ndarray, prev_gray: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The flow from this frame back to the previous one and where it is trusted, at the
    frame's size; the flows and their check made at ``scale`` of it and enlarged."""
    small, prev_small = flow.shrink(gray, scale), flow.shrink(prev_gray, scale)
    back, trust = estimator.trusted(small, prev_small)
    h, w = gray.shape
    return flow.enlarge(back, h, w, True), flow.enlarge(trust, h, w, False)


def _carry(motion: Future[tuple[np.ndarray, np.ndarray]], last: np.ndarray) -> Any:
    """The previous result ``last`` warped to this frame, and the trust (:data:`Carried`)."""
    back, trust = motion.result()
    return flow.warp_pixels(last, back), trust


def _encoder(
    segment: Path, info: videoio.VideoInfo, shown: np.ndarray, vs: VideoSettings, first: bool
) -> videoio.Encoder:
    height, width = shown.shape[:2]
    size = videoio.even_size(width, height)
    if first and size != (width, height):
        warnings.warn(
            InputNotice(
                f"frames of {width}x{height} are cut to "
                f"{size[0]}x{size[1]}: yuv420 video needs even sides"
            ),
            stacklevel=3,
        )
    return videoio.Encoder(segment, info, size, vs.codec, vs.crf, vs.preset)


class Writer:
    """Encodes, saves and commits in one thread, in order; after a task fails, the ones
    submitted after it are skipped (no commit of a segment whose frames were not written).
    :meth:`wait` returns when all that was submitted is done (all but the newest ``keep``),
    and raises what failed."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, "painterly-write")
        self._pending: list[Future[Any]] = []
        self._failed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._pending.append(self._pool.submit(self._do, fn, *args))

    def _do(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._failed:
            return None
        try:
            return fn(*args)
        except BaseException:
            self._failed = True
            raise

    def wait(self, keep: int = 0) -> None:
        """Wait for all but the last ``keep`` tasks submitted (raising what failed)."""
        cut = max(0, len(self._pending) - keep)
        done, self._pending = self._pending[:cut], self._pending[cut:]
        for future in done:
            future.result()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)  # after an error too: no write left running


def _resume_point(
    reader: videoio.Reader, work: Work, vs: VideoSettings
) -> tuple[np.ndarray, np.ndarray] | None:
    """(the previous input frame's gray, the last result) when resuming; None at the start."""
    last = work.last() if work.frames else None
    if last is None:
        work.frames, work.segments = 0, []
        return None
    for _, frame, _ in reader.pixels(work.frames - 1):
        return flow.gray(fit(frame, vs.size)), last
    return None


def fit(frame: np.ndarray, size: int | None) -> np.ndarray:
    """A frame's pixels with its long side at ``size`` (None: as they are), in OpenCV (torch
    in the frame loop spins beside the runtime's threads: :func:`_in_palette`): the area
    average when it shrinks, bicubic when it enlarges (docs/video.md)."""
    if size is None or max(frame.shape[:2]) == size:
        return frame
    h, w = fit_size(*frame.shape[:2], size)
    cv2 = flow.require_cv2()
    shrinks = h * w < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_CUBIC)


def frames_per_segment(rate: float, optimise: bool) -> int:
    """Frames per resumable segment: one for the optimisation engine (every frame is worth
    keeping), about a second's worth for the fast one (a second is cheap to redo)."""
    return 1 if optimise else max(1, math.ceil(rate))


__all__ = [
    "COLOURS",
    "Carried",
    "DEFAULT_FLOW_SCALE",
    "DEFAULT_FRAME_STEPS",
    "DEFAULT_TEMPORAL",
    "FastFrames",
    "OptimFrames",
    "Pace",
    "Progress",
    "Shown",
    "VideoSettings",
    "Work",
    "work_folder",
    "fingerprint",
    "fit",
    "frame_colours",
    "frames_per_segment",
    "run",
]
