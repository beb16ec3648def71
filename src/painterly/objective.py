"""The objective: style targets as a value, computed once; content targets per image; the
weighted sum of content, style, total-variation and any extra terms for a batch.

Style targets depend only on the paintings, the scale, the layers and the statistic, so one
:class:`StyleTargets` serves every frame of a video, every tile of a print and every batch of
a training run; what depends on the photo (its features, and its own statistics under a
mask) is a :class:`ContentTargets`, computed once per photo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from painterly import losses, tiles
from painterly.arch import LAYER_INDEX, downsampling
from painterly.errors import InputError
from painterly.features import VGGFeatures
from painterly.settings import Settings


@dataclass(frozen=True)
class StyleStatistic:
    """A style statistic: ``measure(features, weights)`` gives tensors that blend linearly
    across styles, ``target`` turns a blend into what ``compare(measured, target)`` scores;
    ``weights`` (or None) restricts the measure to a region. ``from_moments(mean, cov)``
    gives what ``measure`` would from a layer's mean ``(1, C)`` and covariance ``(1, C, C)``
    (tiled evaluation gathers those)."""

    measure: Callable[[torch.Tensor, torch.Tensor | None], list[torch.Tensor]]
    target: Callable[[list[torch.Tensor]], Any]
    compare: Callable[[list[torch.Tensor], Any], torch.Tensor]
    from_moments: Callable[[torch.Tensor, torch.Tensor], list[torch.Tensor]]

    def loss(
        self, features: torch.Tensor, target: Any, weights: torch.Tensor | None
    ) -> torch.Tensor:
        return self.compare(self.measure(features, weights), target)


STYLE_STATISTICS: dict[str, StyleStatistic] = {
    # Gatys et al.: Gram matrices; blending averages them.
    "gram": StyleStatistic(
        lambda f, w: [losses.gram(f, w)],
        lambda parts: parts[0],
        lambda parts, target: losses.relative_error(parts[0], target.expand_as(parts[0])),
        lambda mean, cov: [cov + mean.unsqueeze(2) * mean.unsqueeze(1)],
    ),
    # Mean and covariance, compared by Wasserstein-2; blending averages means and covariances.
    "meancov": StyleStatistic(
        lambda f, w: list(losses.mean_cov(f, w)),
        lambda parts: (parts[0], losses.sqrtm_psd(parts[1].double()).float()),
        lambda parts, target: losses.wasserstein2(*parts, *target),
        lambda mean, cov: [mean, cov],
    ),
}

Features = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Region:
    """Where a style applies: ``mask`` ``(1, 1, H, W)`` in [0, 1] at the image's size (None:
    everywhere), and the styles painted there (None: keep the photo's own texture)."""

    mask: torch.Tensor | None
    styles: tuple[tuple[torch.Tensor, float], ...] | None


@dataclass(frozen=True)
class RegionTargets:
    """One region's part of the style loss: its share of the image, its mask averaged down to
    each layer (None: everywhere), and per layer the target statistic (None: the photo's own,
    which :meth:`Objective.content_targets` measures)."""

    share: float
    weights: dict[str, torch.Tensor | None]
    targets: dict[str, Any] | None


@dataclass(frozen=True)
class StyleTargets:
    """The style half of the objective at one scale: for ``statistic`` at ``layers``, one
    :class:`RegionTargets` per region (a single one without masks)."""

    statistic: str
    layers: tuple[str, ...]
    regions: tuple[RegionTargets, ...]

    @property
    def layer_targets(self) -> dict[str, Any]:
        """The first region's targets (the only region without masks)."""
        targets = self.regions[0].targets
        assert targets is not None, "the first region keeps the photo's own statistics"
        return targets


@dataclass(frozen=True)
class ContentTargets:
    """What one photo (or a batch of them) contributes: features at the content layers and,
    for regions that keep the photo's texture, its statistics under their masks."""

    features: dict[str, torch.Tensor]
    own: tuple[dict[str, Any] | None, ...]


@dataclass(frozen=True)
class Term:
    """An extra loss term (e.g. a temporal one for video): ``loss(images, features)`` -> a
    scalar tensor, added with ``weight`` beside the content, style and TV terms."""

    weight: float
    loss: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


BUILT_IN_TERMS = ("content", "style", "tv")


def feature_pass(extractor: VGGFeatures, autocast: torch.dtype | None = None) -> Features:
    """VGG features, computed under autocast (e.g. bfloat16) when asked, in the dtype the
    pass gave.

    The convolutions are where the time goes and tolerate bfloat16. The losses take the
    features as they come: Gram products run at the features' dtype with float32
    accumulation and a float32 result; means, covariances and relative errors are computed
    in float32 (losses.py).
    """

    def features(image: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(image.device.type, dtype=autocast, enabled=autocast is not None):
            return extractor(image)

    return features


def style_targets(
    features: Features,
    styles: Sequence[tuple[torch.Tensor, float]],
    settings: Settings,
    regions: Sequence[Region] | None = None,
    tile: int | None = None,
) -> StyleTargets:
    """Compute the style targets once, under no_grad.

    ``styles`` are ``(image, blend weight)`` pairs; their statistics (Gram matrices, or means
    and covariances) are blended per layer (weights normalised to sum to 1), which paints one
    texture that mixes the paintings. ``regions`` (spatial control, Gatys et al. 2017)
    replaces that single target by guided statistics per region; their masks are at the
    size of the image to be painted, and are averaged down to each layer's feature map.
    ``tile``: each painting's statistics are computed tile by tile (a print-size
    scale, whose style image does not fit through the network whole).
    """
    if not styles:
        raise ValueError("at least one style image is needed")
    stat = STYLE_STATISTICS[settings.style_stats]
    layers = settings.style_layers
    regions = list(regions) if regions else [Region(None, tuple(styles))]
    prepared = []
    with torch.no_grad():
        for region in regions:
            share = _share(region.mask)
            if share <= 0:
                continue
            weights = {n: _layer_weights(region.mask, n) for n in layers}
            targets = None
            if region.styles is not None:
                targets = _blend(features, stat, layers, region.styles, tile)
            prepared.append(RegionTargets(share, weights, targets))
    return StyleTargets(settings.style_stats, layers, tuple(prepared))


def _blend(
    features: Features,
    stat: StyleStatistic,
    layers: tuple[str, ...],
    styles: Sequence[tuple[torch.Tensor, float]],
    tile: int | None = None,
) -> dict[str, Any]:
    """Per layer, the blend-weighted mean of each style's statistics, made a target."""
    blend_total = float(sum(w for _, w in styles))
    sums: dict[str, list[torch.Tensor]] = {}
    for image, weight in styles:
        measured = _measure(features, stat, layers, image, tile)
        for name in layers:
            parts = [p * (weight / blend_total) for p in measured[name]]
            sums[name] = (
                [a + b for a, b in zip(sums[name], parts, strict=True)] if name in sums else parts
            )
    return {name: stat.target(parts) for name, parts in sums.items()}


def _measure(
    features: Features,
    stat: StyleStatistic,
    layers: tuple[str, ...],
    image: torch.Tensor,
    tile: int | None,
) -> dict[str, list[torch.Tensor]]:
    """Per layer, ``stat.measure`` of one image's features; tile by tile (from the features'
    moments) when ``tile`` is given."""
    if tile is not None:
        gathered = tiles.moments(features, image, layers, tile)
        return {
            name: stat.from_moments(m.mean.unsqueeze(0), m.cov.unsqueeze(0))
            for name, m in gathered.items()
        }
    feats = features(image)
    return {name: stat.measure(feats[name], None) for name in layers}


class Objective:
    """Weighted content + style + total-variation (+ extra terms) loss of a batch of images.

    One objective serves any number of photos: ``content_targets(photo)`` is computed once
    per photo, and ``objective(images, targets)`` compares a batch against them and against
    the shared :class:`StyleTargets`. ``terms`` adds named extra terms.
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        style: StyleTargets,
        settings: Settings,
        autocast: torch.dtype | None = None,
        terms: Mapping[str, Term] | None = None,
    ) -> None:
        self.features = feature_pass(extractor, autocast)
        self.style = style
        self.stat = STYLE_STATISTICS[style.statistic]
        self.content_layers = settings.content_layers
        self.style_layers = style.layers
        layer_weights = settings.style_layer_weights or (1.0,) * len(self.style_layers)
        total = float(sum(layer_weights))
        self.layer_weights = {
            n: w / total for n, w in zip(self.style_layers, layer_weights, strict=True)
        }
        self.terms = dict(terms or {})
        clash = set(self.terms) & {*BUILT_IN_TERMS, "total"}
        if clash:
            raise ValueError(f"extra terms may not be named {', '.join(sorted(clash))}")
        # Only the ratios of the weights matter to the minimum; dividing by the largest keeps
        # the loss and its gradients in float32 range whatever the user types (1e30, 1e300).
        raw = {
            "content": settings.content_weight,
            "style": settings.style_weight,
            "tv": settings.tv_weight,
            **{name: term.weight for name, term in self.terms.items()},
        }
        top = max(raw.values())
        self.term_weights = {k: v / top for k, v in raw.items()}

    def content_targets(self, content: torch.Tensor) -> ContentTargets:
        """``(N, 3, H, W)`` photos -> their targets (no_grad), for batches of the same N."""
        with torch.no_grad():
            feats = self.features(content)
            own = tuple(
                None
                if r.targets is not None
                else {
                    n: self.stat.target(self.stat.measure(feats[n], r.weights[n]))
                    for n in self.style_layers
                }
                for r in self.style.regions
            )
            return ContentTargets({n: feats[n].detach().float() for n in self.content_layers}, own)

    def __call__(
        self, images: torch.Tensor, content: ContentTargets
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``(N, 3, H, W)`` -> (total loss, ``{"content", "style", "tv", extra terms...,
        "total"}`` as floats); each term is the mean over the batch."""
        feats = self.features(images)
        content_part = sum(
            losses.content_loss(feats[n], content.features[n]) for n in self.content_layers
        )
        content_part = content_part / len(self.content_layers)
        style_part = sum(
            r.share
            * sum(
                self.layer_weights[n] * self.stat.loss(feats[n], _target(r, own)[n], r.weights[n])
                for n in self.style_layers
            )
            for r, own in zip(self.style.regions, content.own, strict=True)
        )
        w = self.term_weights
        terms = {
            "content": w["content"] * content_part,
            "style": w["style"] * style_part,
            "tv": w["tv"] * losses.tv_loss(images),
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        for name, term in self.terms.items():
            terms[name] = w[name] * term.loss(images, feats)
            total = total + terms[name]
        values = {k: float(v.detach()) for k, v in terms.items()}
        values["total"] = float(total.detach())
        return total, values


def _target(region: RegionTargets, own: dict[str, Any] | None) -> dict[str, Any]:
    """A region's per-layer targets: the paintings', or the photo's own."""
    targets = region.targets if region.targets is not None else own
    assert targets is not None
    return targets


def _share(mask: torch.Tensor | None) -> float:
    """The part of the image a region covers (1.0 without a mask)."""
    return 1.0 if mask is None else float(mask.mean())


def _layer_weights(mask: torch.Tensor | None, layer: str) -> torch.Tensor | None:
    """The mask averaged down to a layer's resolution, squared as in a Gram matrix of
    masked features ``(F * m)(F * m)^T`` (Gatys et al. 2017)."""
    if mask is None:
        return None
    stride = downsampling(layer)
    size = (mask.shape[-2] // stride, mask.shape[-1] // stride)
    return F.adaptive_avg_pool2d(mask.to(torch.float32), size).pow(2)


class TiledObjective:
    """An :class:`Objective` evaluated tile by tile (see the module's docstring): the same
    loss values, and a gradient equal to the untiled one, in memory set by ``tile``.

    Takes either style statistic, without masks, and no extra terms.
    """

    def __init__(self, objective: Objective, tile: int) -> None:
        regions = objective.style.regions
        if (
            len(regions) != 1
            or regions[0].targets is None
            or regions[0].weights[objective.style_layers[0]] is not None
        ):
            raise InputError("tiled evaluation takes no masks")
        if objective.terms:
            raise InputError("tiled evaluation takes no extra loss terms")
        self.objective = objective
        self.tile = tile
        layers = objective.content_layers + objective.style_layers
        self.halo = tiles.halo(max(layers, key=LAYER_INDEX.__getitem__))

    def content_targets(self, content: torch.Tensor) -> ContentTargets:
        """The photo's features at the content layers, assembled from the tiles' cores."""
        o = self.objective
        maps: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for t, feats in tiles.passes(o.features, content, self.tile, self.halo):
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
        w = o.term_weights
        # Pass 1: each style layer's moments over the whole image, and from them the style
        # loss and its gradients with respect to the moments.
        gathered = tiles.moments(o.features, image, o.style_layers, self.tile)
        style_part, pulls = self._style(gathered)
        content_norms = {
            n: content.features[n].pow(2).sum().clamp_min(losses.EPS) for n in o.content_layers
        }
        # Pass 2: the surrogate's gradient, tile by tile, summed into the image's gradient.
        grad = torch.zeros_like(image)
        content_error = dict.fromkeys(o.content_layers, 0.0)
        content_scale = w["content"] / len(o.content_layers)
        for t in tiles.plan(image.shape[-2], image.shape[-1], self.tile, self.halo):
            crop = t.crop(image).clone().requires_grad_(True)
            feats = o.features(crop)
            surrogate = crop.new_zeros(())
            for n in o.style_layers:
                flat = losses.wide(tiles.flat(t.core(feats[n], downsampling(n))))
                g_cov, shift = pulls[n]
                scale = w["style"] / gathered[n].count
                surrogate = surrogate + scale * (flat * (g_cov @ flat + shift[:, None])).sum()
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

    def _style(
        self, gathered: dict[str, tiles.Moments]
    ) -> tuple[float, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """The style loss (before its weight) from each layer's moments, and per layer the
        surrogate's ``g_S`` and ``g_m - (g_S + g_S^T) m`` (see the tiles module): its
        gradients with respect to the covariance ``S`` ``(C, C)`` and the mean ``m``
        ``(C,)``, the second folded so that the features need no centring."""
        o = self.objective
        targets = o.style.layer_targets
        leaves = {
            n: (
                gathered[n].mean.unsqueeze(0).clone().requires_grad_(True),
                gathered[n].cov.unsqueeze(0).clone().requires_grad_(True),
            )
            for n in o.style_layers
        }
        with torch.enable_grad():
            total = sum(
                o.layer_weights[n] * o.stat.compare(o.stat.from_moments(*leaves[n]), targets[n])
                for n in o.style_layers
            )
            pulls = torch.autograd.grad(total, [t for pair in leaves.values() for t in pair])
        by_layer = {}
        for i, n in enumerate(o.style_layers):
            g_mean, g_cov = pulls[2 * i][0], pulls[2 * i + 1][0]
            by_layer[n] = (g_cov, g_mean - (g_cov + g_cov.T) @ gathered[n].mean)
        return float(total.detach()), by_layer
