"""Tiny synthetic clips made with PyAV (``painterly[video]``), for the video and web tests:
a textured picture panning by a known step, with a sine tone; and what a clip holds
(packets, frames). Import after ``pytest.importorskip("av")``."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import torch

from painterly import videoio


def scene(width: int, height: int, frame: int, step: int = 2) -> np.ndarray:
    """A smooth coloured texture, panned ``step`` px right per frame: (H, W, 3) uint8."""
    rng = np.random.default_rng(0)
    big = rng.uniform(0, 255, size=(height // 4 + 8, (width + 64) // 4 + 8, 3))
    big = np.kron(big, np.ones((4, 4, 1)))  # blocks of 4 px, then a blur
    kernel = np.ones(5) / 5
    for axis in (0, 1):
        big = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, big)
    x = 32 - step * frame
    return big[8 : 8 + height, x : x + width].astype(np.uint8)


def make_clip(
    path: Path,
    frames: int = 8,
    size: tuple[int, int] = (64, 48),
    rate: int = 12,
    rotation: int = 0,
    audio: bool = True,
) -> Path:
    """An H.264 clip (with an AAC tone when ``audio``) of the panning scene."""
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height = width - width % 2, height - height % 2
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=22050) if audio else None
        for n in range(frames):
            image = scene(video.width, video.height, n)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            samples = int(22050 * frames / rate)
            t = np.arange(samples) / 22050
            tone = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            frame.sample_rate = 22050
            for packet in [*sound.encode(frame), *sound.encode(None)]:
                out.mux(packet)
    return path


def packets(path: Path, kind: str) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def frames_of(path: Path) -> list[torch.Tensor]:
    return [image for _, image, _ in videoio.Reader(path).frames()]


def audio_only(path: Path) -> Path:
    """A file with an AAC stream and no video stream."""
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=22050)
        tone = av.AudioFrame.from_ndarray(
            np.zeros((1, 2048), np.float32), format="fltp", layout="mono"
        )
        tone.sample_rate = 22050
        for packet in [*sound.encode(tone), *sound.encode(None)]:
            out.mux(packet)
    return path


def cut_short(path: Path) -> Path:
    """A Matroska clip cut at 40%, written beside ``path``: it still plays up to the cut,
    and its header says 1.4 s."""
    whole = make_clip(path.with_name("whole.mkv"), frames=16)
    cut = path.with_name("cut.mkv")
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.4)])
    return cut
