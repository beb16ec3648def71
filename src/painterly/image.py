"""Tensor-side image operations on ``(N, 3, H, W)`` float images in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fit_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """``(H, W)`` with the long side set to ``long_side`` and the aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample to ``size = (H, W)``: antialiased bicubic, clamped back into [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resample so that the long side is ``long_side`` pixels."""
    return resize(image, fit_size(image.shape[-2], image.shape[-1], long_side))
