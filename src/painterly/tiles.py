"""Tiled evaluation: the objective and its gradient at any image size, in memory set by the
tile, with one global style.

The style loss compares Gram matrices, and a Gram matrix is a sum over positions: the sum
over tiles of each tile's feature products. So each evaluation makes two passes over the
tiles:

1. without gradients, the global Gram matrix of every style layer (and the content error);
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

Total variation is a cheap image-sized term, computed on the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from painterly import losses
from painterly.arch import LAYER_INDEX, LAYER_TABLE, downsampling
from painterly.errors import InputError
from painterly.objective import ContentTargets, Features, Objective

ALIGN = 16  # the stride of relu5_1 (4 poolings): tiles start on this grid
MIN_TILE = 64


def receptive_radius(deepest: str) -> int:
    """How far (in input pixels) a feature of ``deepest`` sees from its centre: 3x3
    convolutions and 2x2 poolings up to that layer."""
    size, jump = 1, 1
    for name, kind, _ in LAYER_TABLE[: LAYER_INDEX[deepest] + 1]:
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


def _flat(features: torch.Tensor) -> torch.Tensor:
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
        for t, feats in _passes(features, image, tile, halo(deepest)):
            for name in layers:
                flat = _flat(t.core(feats[name], downsampling(name)))
                product = losses.wide(flat @ flat.T)
                sums[name] = sums[name] + product if name in sums else product
                counts[name] += flat.shape[1]
    return sums, counts


def grams(
    features: Features, image: torch.Tensor, layers: tuple[str, ...], tile: int
) -> dict[str, torch.Tensor]:
    """Per layer, the Gram matrix ``(1, C, C)`` of ``image`` as :func:`losses.gram` gives
    it, computed tile by tile."""
    sums, counts = gram_sums(features, image, layers, tile)
    return {name: (sums[name] / counts[name]).unsqueeze(0) for name in layers}


def _passes(
    features: Features, image: torch.Tensor, tile: int, margin: int
) -> Iterator[tuple[Tile, dict[str, torch.Tensor]]]:
    for t in plan(image.shape[-2], image.shape[-1], tile, margin):
        yield t, features(t.crop(image))


class TiledObjective:
    """An :class:`Objective` evaluated tile by tile (see the module's docstring): the same
    loss values, and a gradient equal to the untiled one, in memory set by ``tile``.

    Takes the Gram statistic without masks and no extra terms.
    """

    def __init__(self, objective: Objective, tile: int) -> None:
        if objective.style.statistic != "gram" or len(objective.style.regions) != 1:
            raise InputError("tiled evaluation takes the gram statistic without masks")
        region = objective.style.regions[0]
        if region.targets is None or region.weights[objective.style_layers[0]] is not None:
            raise InputError("tiled evaluation takes the gram statistic without masks")
        if objective.terms:
            raise InputError("tiled evaluation takes no extra loss terms")
        self.objective = objective
        self.tile = tile
        layers = objective.content_layers + objective.style_layers
        self.halo = halo(max(layers, key=LAYER_INDEX.__getitem__))

    def content_targets(self, content: torch.Tensor) -> ContentTargets:
        """The photo's features at the content layers, assembled from the tiles' cores."""
        o = self.objective
        maps: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for t, feats in _passes(o.features, content, self.tile, self.halo):
                for name in o.content_layers:
                    stride = downsampling(name)
                    if name not in maps:
                        h, w = content.shape[-2] // stride, content.shape[-1] // stride
                        maps[name] = content.new_zeros((1, feats[name].shape[1], h, w))
                    rows, cols = t.place(stride)
                    maps[name][..., rows, cols] = t.core(feats[name], stride).float()
        return ContentTargets(maps, (None,))

    def __call__(
        self, images: torch.Tensor, content: ContentTargets
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """As :meth:`Objective.__call__` for one image: (the total loss, whose gradient with
        respect to ``images`` is the untiled one, the terms as floats)."""
        if images.shape[0] != 1:
            raise ValueError("tiled evaluation takes one image at a time")
        o = self.objective
        image = images.detach()
        targets = o.style.layer_targets
        w = o.term_weights
        # Pass 1: the global Gram matrices and the content error, without gradients.
        sums, counts = gram_sums(o.features, image, o.style_layers, self.tile)
        norms = {n: targets[n].pow(2).sum() for n in o.style_layers}
        grams_ = {n: sums[n] / counts[n] for n in o.style_layers}
        diffs = {n: grams_[n] - targets[n][0] for n in o.style_layers}
        style_part = sum(
            o.layer_weights[n] * float(diffs[n].pow(2).sum() / norms[n].clamp_min(losses.EPS))
            for n in o.style_layers
        )
        content_norms = {
            n: content.features[n].pow(2).sum().clamp_min(losses.EPS) for n in o.content_layers
        }
        # Pass 2: the surrogate's gradient, tile by tile, summed into the image's gradient.
        grad = torch.zeros_like(image)
        content_error = dict.fromkeys(o.content_layers, 0.0)
        style_scale = {
            n: w["style"] * o.layer_weights[n] * 2 / (counts[n] * norms[n].clamp_min(losses.EPS))
            for n in o.style_layers
        }
        content_scale = w["content"] / len(o.content_layers)
        for t in plan(image.shape[-2], image.shape[-1], self.tile, self.halo):
            crop = t.crop(image).clone().requires_grad_(True)
            feats = o.features(crop)
            surrogate = crop.new_zeros(())
            for n in o.style_layers:
                flat = losses.wide(_flat(t.core(feats[n], downsampling(n))))
                surrogate = surrogate + style_scale[n] * (flat * (diffs[n] @ flat)).sum()
            for n in o.content_layers:
                stride = downsampling(n)
                rows, cols = t.place(stride)
                core = losses.wide(t.core(feats[n], stride))
                error = (core - content.features[n][..., rows, cols]).pow(2).sum()
                content_error[n] += float(error.detach())
                surrogate = surrogate + content_scale * error / content_norms[n]
            (crop_grad,) = torch.autograd.grad(surrogate, crop)
            grad[..., t.cy0 : t.cy1, t.cx0 : t.cx1] += crop_grad
        content_part = sum(
            content_error[n] / float(content_norms[n]) for n in o.content_layers
        ) / len(o.content_layers)
        tv = w["tv"] * losses.tv_loss(images)
        fixed = w["content"] * content_part + w["style"] * style_part
        link = (images * grad).sum()
        total = tv + (link - link.detach()) + fixed
        values = {
            "content": w["content"] * content_part,
            "style": w["style"] * style_part,
            "tv": float(tv.detach()),
        }
        values["total"] = float(total.detach())
        return total, values


__all__ = [
    "ALIGN",
    "TiledObjective",
    "Tile",
    "grams",
    "gram_sums",
    "halo",
    "plan",
    "receptive_radius",
    "round_tile",
]
