"""Tensor-side image operations on ``(N, 3, H, W)`` float images in [0, 1]."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from painterly.losses import sqrtm_psd


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


# --- colour (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer") ---

# RGB <-> YIQ (NTSC): Y is luminance, I and Q carry the colour.
RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB -> YIQ (Y in [0, 1])."""
    return torch.einsum("ij,njhw->nihw", RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` YIQ -> RGB (not clamped)."""
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(RGB_TO_YIQ.double()).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` -> ``(N, 1, H, W)``: the Y of YIQ."""
    return rgb_to_yiq(image)[:, :1]


def gray(lum: torch.Tensor) -> torch.Tensor:
    """A luminance map ``(N, 1, H, W)`` as a gray RGB image ``(N, 3, H, W)`` in [0, 1]."""
    return lum.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance with the content's luminance mean and standard deviation.

    ``(N, 3, H, W), (N, 3, H', W') -> (N, 1, H, W)``. Without this the output's brightness
    would follow the painting, not the photo (Gatys et al. 2017, section 5.1).
    """
    ls, lc = luminance(style), luminance(content)
    scale = lc.std() / ls.std().clamp_min(1e-6)
    return (ls - ls.mean()) * scale + lc.mean()


def with_content_colour(lum: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Combine a luminance ``(N, 1|3, H, W)`` with the content's I and Q channels -> RGB."""
    y = lum[:, :1] if lum.shape[1] == 1 else luminance(lum)
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0, 1)


def match_colour_statistics(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Map the style's colours linearly to the content's colour mean and covariance
    (:func:`recolour` to :func:`colour_moments` of the content), so the recoloured style has
    exactly the photo's mean and covariance (Gatys et al. 2017, section 5.2).
    ``(1, 3, H, W), (1, 3, H', W') -> (1, 3, H, W)`` in [0, 1]."""
    return recolour(style, *colour_moments(content))


def palette(styles: Sequence[tuple[torch.Tensor, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The painting's palette: the heaviest painting's colour mean ``(3, 1)`` and covariance
    ``(3, 3)`` (:func:`colour_moments`), for ``--preserve-color painting`` in both engines."""
    return colour_moments(max(styles, key=lambda sw: sw[1])[0])


def recolour(image: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """The image's colours mapped linearly to the colour mean ``(3, 1)`` and covariance
    ``(3, 3)``: ``x' = A (x - mu) + mean`` with ``A = cov^{1/2} C^{-1/2}`` (symmetric square
    roots; ``mu``, ``C``: the image's own moments). One image, ``(1, 3, H, W)`` in [0, 1],
    clamped."""
    mu, own = colour_moments(image)
    eye = 1e-5 * torch.eye(3, dtype=torch.float64, device=own.device)
    cov = cov.to(own.device, torch.float64)
    a = sqrtm_psd(cov + eye) @ torch.linalg.inv(sqrtm_psd(own + eye))
    flat = image.reshape(3, -1)
    out = a.to(flat.dtype) @ (flat - mu.to(flat.dtype)) + mean.to(flat)  # no float64 copy
    return out.reshape(image.shape).clamp_(0, 1)


def colour_moments(image: torch.Tensor, chunk: int = 1 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """The colour mean ``(3, 1)`` and covariance ``(3, 3)`` of one image, in float64, summed
    over ``chunk`` pixels at a time: at print size a float64 copy of the whole image would
    take gigabytes."""
    flat = image.reshape(3, -1)
    n = flat.shape[1]
    total = torch.zeros(3, 1, dtype=torch.float64, device=image.device)
    outer = torch.zeros(3, 3, dtype=torch.float64, device=image.device)
    for start in range(0, n, chunk):
        part = flat[:, start : start + chunk].double()
        total += part.sum(1, keepdim=True)
        outer += part @ part.T
    mean = total / n
    return mean, (outer - n * mean @ mean.T) / max(1, n - 1)


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with replicated borders."""
    if sigma <= 0:
        return image
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = image.shape[1]
    padded = F.pad(image, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    padded = F.pad(out, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
