"""Optical flow for video: OpenCV's DIS, backward warping, and where the flow can be trusted.

Pure functions of arrays and tensors. A flow is a float32 array ``(H, W, 2)`` of (dx, dy):
``flow(a, b)`` says where each pixel of frame ``a`` is found in frame ``b``, so that
``a(p) ≈ b(p + flow(p))`` and ``warp(b, flow(a, b)) ≈ a``.

Trust (Ruder, Dosovitskiy & Brox 2016, after Sundaram et al. 2010): a pixel is reliable when
the forward and backward flows undo each other (else it is occluded, or the flow is wrong
there) and it is not on a motion boundary.

Needs OpenCV (``painterly[video]``: opencv-python-headless).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from painterly.errors import InputError

PRESETS = ("ultrafast", "fast", "medium")  # OpenCV's DIS presets, fastest first
# Ruder et al.'s constants: |w + w'|^2 > A (|w|^2 + |w'|^2) + B marks a disocclusion;
# |grad u|^2 + |grad v|^2 > C |w|^2 + D marks a motion boundary.
CONSISTENCY_A, CONSISTENCY_B = 0.01, 0.5
BOUNDARY_C, BOUNDARY_D = 0.01, 0.002


def require_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise InputError("video needs OpenCV and PyAV: pip install 'painterly[video]'") from None
    return cv2


def gray(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)`` in [0, 1], or ``(H, W, 3)`` uint8 pixels -> ``(H, W)`` uint8 luma
    (Rec. 601), as DIS takes it."""
    cv2 = require_cv2()
    if isinstance(image, torch.Tensor):
        rgb = image[0].detach().to("cpu", torch.float32).clamp(0, 1).mul(255).round().byte()
        image = rgb.permute(1, 2, 0).numpy()
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


class Flow:
    """A DIS optical-flow estimator (built once, reused for every pair of frames)."""

    def __init__(self, preset: str = "medium") -> None:
        if preset not in PRESETS:
            raise InputError(f"flow preset {preset!r}: expected one of {', '.join(PRESETS)}")
        cv2 = require_cv2()
        code = {
            "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
            "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        }[preset]
        self._dis = cv2.DISOpticalFlow_create(code)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8 frames -> ``(H, W, 2)`` float32 flow from ``a`` to ``b``."""
        if a.shape != b.shape:
            raise ValueError(f"frames of different sizes: {a.shape} and {b.shape}")
        return self._dis.calc(a, b, None).astype(np.float32, copy=False)

    def trusted(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flow from ``a`` to ``b`` and where it can be trusted (:func:`reliable`, with
        the flow back from ``b`` to ``a``)."""
        forward = self(a, b)
        return forward, reliable(forward, self(b, a))


def shrink(gray_frame: np.ndarray, scale: float) -> np.ndarray:
    """A ``(H, W)`` frame at ``scale`` of its size (area averaging), for a cheaper flow."""
    if scale >= 1:
        return gray_frame
    cv2 = require_cv2()
    h, w = gray_frame.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray_frame, size, interpolation=cv2.INTER_AREA)


def enlarge(values: np.ndarray, height: int, width: int, is_flow: bool) -> np.ndarray:
    """A flow ``(h, w, 2)`` or mask ``(h, w)`` of a shrunk frame brought to ``height x
    width`` (bilinear); a flow's vectors are scaled with the frame."""
    h, w = values.shape[:2]
    if (h, w) == (height, width):
        return values
    cv2 = require_cv2()
    out = cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR)
    if is_flow:
        out *= np.array([width / w, height / h], np.float32)
    return out


def warp(image: torch.Tensor, flow: np.ndarray) -> torch.Tensor:
    """Sample ``image`` ``(1, C, H, W)`` at ``p + flow(p)`` (bilinear; outside the frame,
    the nearest edge pixel): with ``flow(a, b)``, frame ``b`` brought to frame ``a``."""
    _, c, h, w = image.shape
    if flow.shape != (h, w, 2):
        raise ValueError(f"flow {flow.shape} does not fit an image of {h}x{w}")
    hwc = image[0].detach().to("cpu", torch.float32).permute(1, 2, 0).numpy()
    out = _remap(np.ascontiguousarray(hwc), flow)
    out = out.reshape(h, w, c)  # remap drops a single channel's axis
    chw = torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0).contiguous()
    return chw.to(image.device, image.dtype)


def warp_pixels(pixels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """:func:`warp` of ``(H, W, 3)`` uint8 pixels (a video's frames), in uint8: bilinear,
    rounded."""
    h, w = pixels.shape[:2]
    if flow.shape != (h, w, 2):
        raise ValueError(f"flow {flow.shape} does not fit an image of {h}x{w}")
    return _remap(pixels, flow)


def _remap(values: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """OpenCV's remap of an ``(H, W[, C])`` array to ``p + flow(p)``."""
    cv2 = require_cv2()
    return cv2.remap(
        np.ascontiguousarray(values),
        _grid(*flow.shape[:2]) + flow,
        None,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


@functools.lru_cache(maxsize=4)
def _grid(height: int, width: int) -> np.ndarray:
    """``(H, W, 2)`` float32: each pixel's own (x, y), the map of no motion (read only)."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.stack([xs, ys], axis=-1)
    grid.flags.writeable = False
    return grid


def reliable(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 mask, 1 where ``forward`` (a -> b) can be trusted, 0 where it
    cannot: pixels of ``a`` whose flow ``backward`` (b -> a) does not bring back (occluded
    in ``b``, or a wrong flow), and motion boundaries."""
    back = _remap(np.ascontiguousarray(backward), forward)  # b -> a, read at p + w(p)
    # Component by component: a reduction over a last axis of 2 is ten times slower.
    u, v = np.ascontiguousarray(forward[..., 0]), np.ascontiguousarray(forward[..., 1])
    bu, bv = np.ascontiguousarray(back[..., 0]), np.ascontiguousarray(back[..., 1])
    size = u * u + v * v
    round_trip = (u + bu) ** 2 + (v + bv) ** 2
    occluded = round_trip > CONSISTENCY_A * (size + bu * bu + bv * bv) + CONSISTENCY_B
    du, dv = np.gradient(u), np.gradient(v)
    gradient = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2
    boundary = gradient > BOUNDARY_C * size + BOUNDARY_D
    return (~(occluded | boundary)).astype(np.float32)


def warping_error(
    first: torch.Tensor, second: torch.Tensor, flow: np.ndarray, mask: np.ndarray
) -> float:
    """Lai et al. (2018): the mean squared difference, over the reliable pixels, between
    ``first`` and ``second`` warped back to it (with the flow and mask of the *input*
    frames, ``flow(first, second)``), RGB in [0, 1]."""
    warped = warp(second, flow)
    m = torch.from_numpy(mask).to(first.dtype)
    squared = (first - warped).pow(2).mean(dim=1)[0]  # over channels
    return float((squared * m).sum() / m.sum().clamp(min=1))


def clip_warping_error(
    inputs: list[torch.Tensor], outputs: list[torch.Tensor], preset: str = "medium"
) -> float:
    """The mean :func:`warping_error` of consecutive ``outputs`` over a clip, with the flow
    and trust of the consecutive ``inputs`` (the same sizes)."""
    dis = Flow(preset)
    errors = []
    for t in range(len(inputs) - 1):
        forward, trust = dis.trusted(gray(inputs[t]), gray(inputs[t + 1]))
        errors.append(warping_error(outputs[t], outputs[t + 1], forward, trust))
    return float(np.mean(errors)) if errors else 0.0


__all__ = [
    "PRESETS",
    "Flow",
    "clip_warping_error",
    "enlarge",
    "gray",
    "reliable",
    "require_cv2",
    "shrink",
    "warp",
    "warp_pixels",
    "warping_error",
]
