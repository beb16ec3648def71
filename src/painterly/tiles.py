"""Tiles: the objective and its gradient at any image size, in memory set by the tile, with
one global style (``objective.TiledObjective`` uses what is here).

Both style statistics are functions of each layer's mean and covariance, which are sums
over positions, gathered over the tiles. So each evaluation makes two passes over the
tiles:

1. without gradients, the mean and covariance of every style layer over the whole image
   (:func:`moments`), and from them the style loss and its gradients ``g_m``, ``g_S`` with
   respect to the mean ``m`` and covariance ``S``;
2. with gradients, tile after tile, a surrogate whose gradient with respect to the tile's
   features is exactly that of the whole loss: with ``m = (1/M) sum_p f_p`` and
   ``S = (1/M) sum_p (f_p - m)(f_p - m)^T``, ``dL/df_p = ((g_S + g_S^T)(f_p - m) + g_m) / M``,
   which is the gradient of ``(1/M) sum_p f_p^T (g_S f_p + b)`` with ``b = g_m - (g_S +
   g_S^T) m`` and ``g_S``, ``b`` held fixed: the features need no centring (no copy).
   (For Gram matrices, ``G = S + m m^T``, and ``b`` is zero.)
   Content is a sum over positions too, divided by the whole target's norm.

Each tile is evaluated on its *core* (the pixels it answers for) plus a *halo* as wide as
the receptive field of the deepest layer (80 px at relu5_1), and only the core's feature
positions count. Tiles start on the grid of the deepest pooling (16 px), so pooling windows
fall where they fall on the whole image. A core position's features then see exactly the
pixels they see on the whole image, and its gradient flows into the halo, which is another
tile's core: summed over tiles, the gradient equals the untiled one up to floating-point
rounding (tests/test_tiles.py). There is nothing to blend at tile borders, so no seams.

Total variation is a cheap image-sized term, computed on the whole image. The fast engine's
networks tile on the same grid (``transform.stylise_tiled``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from painterly import losses
from painterly.arch import LAYER_INDEX, LAYER_TABLE, downsampling

Features = Callable[[torch.Tensor], dict[str, torch.Tensor]]
ALIGN = 16  # the stride of relu5_1 (4 poolings): tiles start on this grid
MIN_TILE = 64


def receptive_radius(deepest: str) -> int:
    """How far (in input pixels) a feature of ``deepest`` sees from its centre: 3x3
    convolutions and 2x2 poolings up to that layer."""
    size, jump = 1, 1
    for _, kind, _ in LAYER_TABLE[: LAYER_INDEX[deepest] + 1]:
        if kind == "conv":
            size += 2 * jump
        elif kind == "pool":
            size += jump
            jump *= 2
    return math.ceil((size - 1) / 2)


def halo(deepest: str) -> int:
    """The halo that makes every core feature exact: the receptive radius, rounded up to the
    pooling grid."""
    return math.ceil(receptive_radius(deepest) / ALIGN) * ALIGN


def round_tile(tile: int) -> int:
    """A tile side on the pooling grid, at least MIN_TILE."""
    return max(MIN_TILE, tile // ALIGN * ALIGN)


@dataclass(frozen=True)
class Tile:
    """Rows ``y0:y1`` and columns ``x0:x1`` a tile answers for (its core), and the crop the
    network sees (the core and its halo, within the image)."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        return image[..., self.cy0 : self.cy1, self.cx0 : self.cx1]

    def core(self, features: torch.Tensor, stride: int) -> torch.Tensor:
        """The core's positions in a feature map of this tile's crop at ``stride``."""
        top, left = (self.y0 - self.cy0) // stride, (self.x0 - self.cx0) // stride
        rows, cols = self.y1 // stride - self.y0 // stride, self.x1 // stride - self.x0 // stride
        return features[..., top : top + rows, left : left + cols]

    def place(self, stride: int) -> tuple[slice, slice]:
        """Where the core's positions lie in the whole image's feature map at ``stride``."""
        return (
            slice(self.y0 // stride, self.y1 // stride),
            slice(self.x0 // stride, self.x1 // stride),
        )


def plan(height: int, width: int, tile: int, margin: int) -> tuple[Tile, ...]:
    """Cover ``height x width`` with cores of side ``tile`` (a multiple of ALIGN) and halos
    of ``margin`` (a multiple of ALIGN)."""
    if tile % ALIGN or margin % ALIGN:
        raise ValueError(f"tile {tile} and halo {margin} must be multiples of {ALIGN}")
    tiles = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(y0 + tile, height), min(x0 + tile, width)
            tiles.append(
                Tile(
                    y0, y1, x0, x1,
                    max(0, y0 - margin), min(height, y1 + margin),
                    max(0, x0 - margin), min(width, x1 + margin),
                )
            )  # fmt: skip
    return tuple(tiles)


def flat(features: torch.Tensor) -> torch.Tensor:
    """``(1, C, h, w)`` -> ``(C, h * w)``."""
    return features.reshape(features.shape[1], -1)


@dataclass(frozen=True)
class Moments:
    """The features of one layer over all positions of an image: how many positions, their
    mean ``(C,)`` and their covariance ``(C, C)``, in float32 (float64 for float64 features)."""

    count: int
    mean: torch.Tensor
    cov: torch.Tensor


def moments(
    features: Features, image: torch.Tensor, layers: tuple[str, ...], tile: int
) -> dict[str, Moments]:
    """Per layer, the :class:`Moments` of ``image``'s features (one image), tile by tile,
    without gradients. Each tile's mean and covariance (:func:`losses.mean_cov`, centred on
    the tile's own mean, so that bfloat16 products lose nothing to cancellation) are merged
    with the pairwise update of Chan, Golub & LeVeque (1979)."""
    if image.shape[0] != 1:
        raise ValueError("tiled statistics take one image at a time")
    deepest = max(layers, key=LAYER_INDEX.__getitem__)
    merged: dict[str, tuple[int, torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        for t, feats in passes(features, image, tile, halo(deepest)):
            for name in layers:
                core = t.core(feats[name], downsampling(name))
                n = core.shape[-2] * core.shape[-1]
                if n == 0:  # a thin edge tile has no positions at the deeper layers
                    continue
                mean, cov = losses.mean_cov(core)
                mean, scatter = mean[0], cov[0] * n
                if name in merged:
                    count, old_mean, old_scatter = merged[name]
                    step = mean - old_mean
                    total = count + n
                    mean = old_mean + step * (n / total)
                    scatter = old_scatter + scatter + torch.outer(step, step) * (count * n / total)
                    n = total
                merged[name] = (n, mean, scatter)
    return {name: Moments(n, mean, scatter / n) for name, (n, mean, scatter) in merged.items()}


def passes(
    features: Features, image: torch.Tensor, tile: int, margin: int
) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
    for t in plan(image.shape[-2], image.shape[-1], tile, margin):
        yield t, features(t.crop(image))


__all__ = [
    "ALIGN",
    "Tile",
    "Moments",
    "moments",
    "halo",
    "flat",
    "passes",
    "plan",
    "receptive_radius",
    "round_tile",
]
