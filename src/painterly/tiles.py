"""Tiles: the objective and its gradient at any image size, in memory set by the tile, with
one global style (``objective.TiledObjective`` uses what is here).

The style loss compares Gram matrices, and a Gram matrix is a sum over positions: the sum
over tiles of each tile's feature products. So each evaluation makes two passes over the
tiles:

1. without gradients, the global Gram matrix of every style layer (:func:`gram_sums`);
2. with gradients, tile after tile, a surrogate whose gradient with respect to the tile's
   features is exactly that of the whole loss: for ``L = ||G - T||^2 / ||T||^2`` with
   ``G = (1/M) sum_p f_p f_p^T``, ``dL/df_p = 4 (G - T) f_p / (M ||T||^2)``, which is the
   gradient of ``2 / (M ||T||^2) * sum_p f_p^T (G - T) f_p`` with ``G - T`` held fixed.
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


def gram_sums(
    features: Features, image: torch.Tensor, layers: tuple[str, ...], tile: int
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Per layer, the sum of feature outer products over all positions of ``image`` (one
    image) and the number of positions, tile by tile, without gradients."""
    if image.shape[0] != 1:
        raise ValueError("tiled statistics take one image at a time")
    deepest = max(layers, key=LAYER_INDEX.__getitem__)
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(layers, 0)
    with torch.no_grad():
        for t, feats in passes(features, image, tile, halo(deepest)):
            for name in layers:
                f = flat(t.core(feats[name], downsampling(name)))
                product = losses.wide(f @ f.T)
                sums[name] = sums[name] + product if name in sums else product
                counts[name] += f.shape[1]
    return sums, counts


def grams(
    features: Features, image: torch.Tensor, layers: tuple[str, ...], tile: int
) -> dict[str, torch.Tensor]:
    """Per layer, the Gram matrix ``(1, C, C)`` of ``image`` as :func:`losses.gram` gives
    it, computed tile by tile."""
    sums, counts = gram_sums(features, image, layers, tile)
    return {name: (sums[name] / counts[name]).unsqueeze(0) for name in layers}


def passes(
    features: Features, image: torch.Tensor, tile: int, margin: int
) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
    for t in plan(image.shape[-2], image.shape[-1], tile, margin):
        yield t, features(t.crop(image))


__all__ = [
    "ALIGN",
    "Tile",
    "grams",
    "gram_sums",
    "halo",
    "flat",
    "passes",
    "plan",
    "receptive_radius",
    "round_tile",
]
