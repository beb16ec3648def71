"""Video files <-> frames (``painterly[video]``: PyAV), and folders of frames.

A video is read as ``(index, image, pts)``: images are ``(1, 3, H, W)`` float32 RGB in
[0, 1] as everywhere in the package, ``pts`` the frame's timestamp in the stream's time
base (kept, so a variable frame rate stays as it was). The writer keeps the time base, the
timestamps, the frame rate and the rotation, and copies the audio stream packet for packet.
A folder of frames (``frame_00000.png`` ...) works as input and as output.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch

from painterly import io
from painterly.errors import InputError, InputNotice
from painterly.flow import require_cv2

CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
FRAME_NAME = "frame_{:05d}.png"
FRAME_PATTERN = re.compile(r"frame_(\d+)\.png$")
FOLDER_FPS = Fraction(24)  # a folder of frames has no rate of its own
DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 18  # visually lossless for x264; the style's texture is worth keeping
CRF_CODECS = {"libx264", "libx265", "libvpx-vp9"}
# x264's and x265's speed presets, fastest first: veryfast encodes a 640x360 frame of a
# stylised clip in a third of medium's time at 0.8 dB less (docs/video.md)
PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
PRESET_CODECS = {"libx264", "libx265"}
QUIET = {"libx265": {"x265-params": "log-level=error"}}  # x265 logs to stderr by default


def check_preset(codec: str, preset: str | None) -> None:
    """A speed preset is x264's or x265's, one of :data:`PRESETS`."""
    if preset is None:
        return
    if preset not in PRESETS:
        raise InputError(f"--preset {preset}: expected one of {', '.join(PRESETS)}")
    if codec not in PRESET_CODECS:
        raise InputError(f"--preset {preset}: only for {' and '.join(sorted(PRESET_CODECS))}")


def require_av() -> Any:
    try:
        import av
    except ImportError:
        raise InputError("video needs PyAV and OpenCV: pip install 'painterly[video]'") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a clip is: size, rate, time base, frame count (estimated from the container
    when it says; None when it does not), duration in seconds, the rotation to show it at
    (counter-clockwise degrees), codec and whether it has sound."""

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frames: int | None
    duration: float | None
    rotation: int = 0
    codec: str = "png"
    audio: bool = False


class Reader:
    """A clip (a video file, or a folder of ``frame_NNNNN.png``), checked when opened:
    a clear InputError for a missing path, not a video, no video stream, and no frames."""

    def __init__(self, path: str | os.PathLike, max_pixels: int | None = None) -> None:
        self.path = Path(path)
        self.max_pixels = max_pixels
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or folder")
        self._frames = _frame_files(self.path) if self.path.is_dir() else None
        self.info = self._folder_info() if self._frames is not None else self._probe()

    def _folder_info(self) -> VideoInfo:
        assert self._frames is not None
        first = io.load_image(self._frames[0], self.max_pixels)
        height, width = first.shape[-2:]
        return VideoInfo(
            width,
            height,
            FOLDER_FPS,
            1 / FOLDER_FPS,
            len(self._frames),
            len(self._frames) / float(FOLDER_FPS),
        )

    def _probe(self) -> VideoInfo:
        av = require_av()
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise InputError(f"{self.path}: has no video stream")
                stream = container.streams.video[0]
                frame = next(container.decode(stream), None)
                if frame is None:
                    raise InputError(f"{self.path}: has no frames")
                rate = stream.average_rate or stream.guessed_rate or FOLDER_FPS
                duration = None
                if stream.duration is not None:
                    duration = float(stream.duration * stream.time_base)
                elif container.duration is not None:
                    duration = container.duration / 1e6
                return VideoInfo(
                    frame.width,
                    frame.height,
                    Fraction(rate),
                    Fraction(stream.time_base),
                    stream.frames or None,
                    duration,
                    int(frame.rotation or 0),
                    stream.codec_context.name,
                    bool(container.streams.audio),
                )
        except InputError:
            raise
        except Exception as exc:  # av.error.InvalidDataError and friends
            raise InputError(f"{self.path}: not a video PyAV can read ({_why(exc)})") from None

    def frames(self, start: int = 0) -> Iterator[tuple[int, torch.Tensor, int | None]]:
        """``(index, image, pts)`` from frame ``start`` on, the image ``(1, 3, H, W)`` in
        [0, 1] (:meth:`pixels`, as tensors)."""
        for index, rgb, pts in self.pixels(start):
            yield index, io.from_array(rgb), pts

    def pixels(self, start: int = 0) -> Iterator[tuple[int, np.ndarray, int | None]]:
        """``(index, pixels, pts)`` from frame ``start`` on, the pixels ``(H, W, 3)`` uint8
        RGB (earlier frames are decoded and dropped: a video is read in order). A file that
        ends early (truncated) ends the stream with an InputNotice, after the frames that
        could be read."""
        if self._frames is not None:
            for index, path in enumerate(self._frames[start:], start):
                yield index, io.to_array(io.load_image(path, self.max_pixels)), index
            return
        av = require_av()
        with av.open(str(self.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            index = -1
            try:
                for frame in container.decode(stream):
                    index += 1
                    if index < start:
                        continue
                    yield index, frame.to_ndarray(format="rgb24"), frame.pts
            except av.error.FFmpegError as exc:
                warnings.warn(
                    InputNotice(f"{self.path}: stops after frame {index} ({_why(exc)})"),
                    stacklevel=2,
                )


CUT_SHORT = 0.5  # seconds missing from the stated duration that make a file "cut short"


def scan(path: Path, limit: int | None = None, decode: bool = True) -> tuple[int, float]:
    """(video frames decoded, or video packets without ``decode``; seconds the packets of
    every stream reach), to the end of the file or past ``limit`` frames. InputError for
    damaged data."""
    av = require_av()
    frames, reached = 0, 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = container.start_time / av.time_base if container.start_time else 0.0
        try:
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    end = (packet.pts + (packet.duration or 0)) * packet.time_base
                    reached = max(reached, float(end) - start)
                if packet.stream.index == stream.index:
                    if decode:  # the last, empty packet flushes the decoder's frames
                        frames += len(packet.decode())
                    elif packet.size:
                        frames += 1
                    if limit is not None and frames > limit:
                        break
        except av.error.FFmpegError as exc:
            raise InputError(f"damaged after frame {frames} ({exc.strerror or exc})") from None
    return frames, reached


def check_whole(reader: Reader) -> None:
    """An InputError for a file cut short: its packets stop well before the duration its
    container states (a Matroska file cut short still plays up to the cut; an MP4 cut short
    has lost its index and is not a video at all). Reads the packets, decodes nothing."""
    if reader.path.is_dir() or reader.info.duration is None:
        return
    try:
        _, reached = scan(reader.path, decode=False)
    except InputError as exc:
        raise InputError(f"{reader.path}: {exc}") from None
    if reached < reader.info.duration - CUT_SHORT:
        raise InputError(
            f"{reader.path}: cut short: its data ends at {reached:.1f} s of the "
            f"{reader.info.duration:.1f} s it states"
        )


def _frame_files(folder: Path) -> list[Path]:
    files = sorted((int(m[1]), p) for p in folder.iterdir() if (m := FRAME_PATTERN.match(p.name)))
    if not files:
        raise InputError(f"{folder}: a folder of frames needs frame_00000.png, frame_00001.png ...")
    return [p for _, p in files]


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size yuv420 can hold: odd sides lose their last column or row."""
    return width - width % 2, height - height % 2


def check_output(path: str | os.PathLike, codec: str) -> Path:
    """The output: a video file with a known container suffix and an encoder this PyAV
    has, or a folder of frames (a path without a suffix, or an existing folder)."""
    out = Path(path).absolute()
    if out.is_dir() or not out.suffix:
        return io.check_output_folder(out)
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"{out}: folder {parent} does not exist")
    if out.suffix.lower() not in CONTAINERS:
        known = ", ".join(CONTAINERS)
        raise InputError(
            f"{out}: unknown video format {out.suffix!r}; use one of {known}, "
            "or a folder name for frames"
        )
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out}: folder {parent} is not writable")
    av = require_av()
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        raise InputError(f"--codec {codec}: not an encoder this PyAV has") from None
    return out


def check_container(output: Path, codec: str, sound: Path | None) -> None:
    """An InputError now, rather than after the whole clip, when ``output``'s container
    cannot hold the ``codec`` video or the sound of ``sound`` (copied as it is): a trial
    header is written in memory."""
    if output.is_dir() or not output.suffix:
        return
    av = require_av()
    fmt = CONTAINERS[output.suffix.lower()]
    try:
        with av.open(BytesIO(), "w", format=fmt) as trial:
            video = trial.add_stream(codec, rate=24)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
            video.options = QUIET.get(codec, {})
            if sound is not None:
                with av.open(str(sound)) as source:
                    if source.streams.audio:
                        trial.add_stream_from_template(source.streams.audio[0])
                        trial.start_encoding()
                        return
            trial.start_encoding()
    except Exception as exc:
        raise InputError(
            f"{output}: a {output.suffix} file cannot hold this ({_why(exc)}); "
            "choose another --codec or container"
        ) from None


class Encoder:
    """Encodes frames into a video-only MP4 file: a segment of a clip, written as the run
    goes and later copied packet for packet into the output's container (:func:`assemble`).
    MP4 keeps the stream's time base exactly (Matroska would round it to milliseconds). No
    B-frames, so every packet's decode time is its presentation time and segments join
    without reordering; headers in every keyframe, so each segment stands on its own."""

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        size: tuple[int, int],
        codec: str = DEFAULT_CODEC,
        crf: int = DEFAULT_CRF,
        preset: str | None = None,
    ) -> None:
        av = require_av()
        self.path, self.info, self.size = path, info, size
        self._out = av.open(str(path), "w", format="mp4")
        stream = self._out.add_stream(codec, rate=info.rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        options = {"bf": "0"}
        if codec in CRF_CODECS:
            options["crf"] = str(crf)
        if "vpx" in codec:
            options["b:v"] = "0"
        if codec == "libx264":
            options["x264-params"] = "repeat-headers=1"
        if preset:
            options["preset"] = preset
        options.update(QUIET.get(codec, {}))
        stream.options = options
        self._stream = stream

    def write(self, image: torch.Tensor | np.ndarray, pts: int) -> None:
        """One frame, ``(1, 3, H, W)`` in [0, 1] or ``(H, W, 3)`` uint8 pixels, cut to the
        encoder's size (:func:`yuv420`)."""
        av = require_av()
        width, height = self.size
        rgb = image if isinstance(image, np.ndarray) else io.to_array(image)
        yuv = yuv420(np.ascontiguousarray(rgb[:height, :width]))
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = pts
        frame.time_base = self.info.time_base
        for packet in self._stream.encode(frame):
            self._out.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()


def yuv420(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of even sides as planar YUV 4:2:0 ``(3H/2, W)``, BT.601
    studio range: FFmpeg's swscale levels (the luma to a level), in a quarter of its time
    (docs/video.md). OpenCV's own conversion takes each 2x2 block's top-left chroma, which
    aliases on fine coloured strokes; here the chroma is the block's mean."""
    cv2 = require_cv2()
    height, width = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    mean = cv2.resize(rgb, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    blocks = cv2.resize(mean, (width, height), interpolation=cv2.INTER_NEAREST)
    yuv[height:] = cv2.cvtColor(blocks, cv2.COLOR_RGB2YUV_I420)[height:]
    return yuv


def assemble(segments: list[Path], output: Path, info: VideoInfo, audio: Path | None) -> Path:
    """Copy the segments' packets, in order, into ``output``'s container, with the sound
    of ``audio`` copied as it is and interleaved by time; the rotation is kept. Written
    atomically (io.write_atomic): the output appears only when whole."""
    av = require_av()

    def write(fh: Any) -> None:
        with (
            av.open(fh, "w", format=CONTAINERS[output.suffix.lower()]) as out,
            av.open(str(segments[0])) as first,
        ):
            video = out.add_stream_from_template(first.streams.video[0])
            video.time_base = info.time_base
            if info.rotation:
                video.set_display_rotation(info.rotation)
            sound = _Sound(av, out, audio) if audio is not None and info.audio else None
            try:
                for path in segments:
                    _copy_segment(av, path, out, video, sound)
                if sound is not None:
                    sound.until(None)
            finally:
                if sound is not None:
                    sound.close()

    io.write_atomic(output, write, shared=True)
    return output


def _copy_segment(av: Any, path: Path, out: Any, video: Any, sound: _Sound | None) -> None:
    with av.open(str(path)) as segment:
        for packet in segment.demux(segment.streams.video[0]):
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            if sound is not None:
                sound.until(packet.pts * packet.time_base)
            packet.stream = video
            out.mux(packet)


class _Sound:
    """The input's audio packets, copied into ``out`` up to a time at a time, so the file
    stays interleaved and no buffer grows with the clip's length."""

    def __init__(self, av: Any, out: Any, source: Path) -> None:
        self._in = av.open(str(source))
        template = self._in.streams.audio[0]
        self._stream = out.add_stream_from_template(template)
        self._out = out
        self._packets = iter(self._in.demux(template))
        self._held: Any = None

    def until(self, time: Fraction | None) -> None:
        """Copy every packet before ``time`` (None: all that are left)."""
        while True:
            packet = self._held or next(self._packets, None)
            self._held = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            if time is not None and packet.pts is not None and packet.pts * packet.time_base > time:
                self._held = packet
                return
            packet.stream = self._stream
            self._out.mux(packet)

    def close(self) -> None:
        self._in.close()


__all__ = [
    "CONTAINERS",
    "DEFAULT_CODEC",
    "PRESETS",
    "check_preset",
    "DEFAULT_CRF",
    "FRAME_NAME",
    "Encoder",
    "Reader",
    "VideoInfo",
    "assemble",
    "check_container",
    "check_output",
    "even_size",
    "require_av",
    "yuv420",
]
