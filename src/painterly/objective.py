"""The objective: targets computed once (no_grad), then total and per-term losses of an image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from painterly import losses
from painterly.features import VGGFeatures
from painterly.settings import Settings


@dataclass(frozen=True)
class StyleStatistic:
    """A style statistic: ``measure(features, weights)`` gives tensors that blend linearly
    across styles, ``target`` turns a blend into what ``loss(features, target, weights)``
    compares against; ``weights`` (or None) restricts both to a region."""

    measure: Callable[[torch.Tensor, torch.Tensor | None], list[torch.Tensor]]
    target: Callable[[list[torch.Tensor]], Any]
    loss: Callable[[torch.Tensor, Any, torch.Tensor | None], torch.Tensor]


STYLE_STATISTICS: dict[str, StyleStatistic] = {
    # Gatys et al.: Gram matrices; blending averages them.
    "gram": StyleStatistic(
        lambda f, w: [losses.gram(f, w)],
        lambda parts: parts[0],
        losses.style_loss,
    ),
    # Mean and covariance, compared by Wasserstein-2; blending averages means and covariances.
    "meancov": StyleStatistic(
        lambda f, w: list(losses.mean_cov(f, w)),
        lambda parts: (parts[0], losses.sqrtm_psd(parts[1].double()).float()),
        lambda f, target, w: losses.wasserstein2_loss(f, *target, w),
    ),
}


@dataclass(frozen=True)
class Region:
    """Where a style applies: ``mask`` ``(1, 1, H, W)`` in [0, 1] at the image's size (None:
    everywhere), and the styles painted there (None: keep the photo's own texture)."""

    mask: torch.Tensor | None
    styles: tuple[tuple[torch.Tensor, float], ...] | None


class Objective:
    """Weighted content + style + total-variation loss for one content and blended styles.

    ``styles`` are ``(image, blend weight)`` pairs; their statistics (Gram matrices, or means
    and covariances) are blended per layer (weights normalised to sum to 1), which paints one
    texture that mixes the paintings. ``regions`` (spatial control, Gatys et al. 2017)
    replaces that single target by guided statistics per region: each region's loss compares
    only the statistics under its mask, weighted by the region's share of the image.
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        content: torch.Tensor,
        styles: Sequence[tuple[torch.Tensor, float]],
        settings: Settings,
        autocast: torch.dtype | None = None,
        regions: Sequence[Region] | None = None,
    ) -> None:
        if not styles:
            raise ValueError("at least one style image is needed")
        self.extractor = extractor
        self.settings = settings
        self.autocast = autocast
        self.stat = STYLE_STATISTICS[settings.style_stats]
        self.content_layers = settings.content_layers
        self.style_layers = settings.style_layers
        layer_weights = settings.style_layer_weights or (1.0,) * len(self.style_layers)
        total = float(sum(layer_weights))
        self.layer_weights = {
            n: w / total for n, w in zip(self.style_layers, layer_weights, strict=True)
        }
        # Only the ratios of the weights matter to the minimum; dividing by the largest keeps
        # the loss and its gradients in float32 range whatever the user types (1e30, 1e300).
        raw = {
            "content": settings.content_weight,
            "style": settings.style_weight,
            "tv": settings.tv_weight,
        }
        top = max(raw.values())
        self.term_weights = {k: v / top for k, v in raw.items()}
        regions = list(regions) if regions else [Region(None, tuple(styles))]
        with torch.no_grad():
            feats = self.features(content)
            self.content_targets = {n: feats[n].detach().float() for n in self.content_layers}
            self.regions = [self._region(r, feats) for r in regions if _share(r.mask) > 0]

    def _region(self, region: Region, content_feats: dict[str, torch.Tensor]) -> _Prepared:
        """A region's per-layer weights and targets: its styles' blended statistics, or the
        photo's own statistics under the mask when it keeps the photo."""
        weights = {n: _layer_weights(region.mask, content_feats[n]) for n in self.style_layers}
        if region.styles is None:
            targets = {
                n: self.stat.target(self.stat.measure(content_feats[n], weights[n]))
                for n in self.style_layers
            }
        else:
            targets = self._blend(region.styles)
        return _Prepared(_share(region.mask), weights, targets)

    @property
    def style_targets(self) -> dict[str, Any]:
        """The targets of the first region (the only one without masks)."""
        return self.regions[0].targets

    def _blend(self, styles: Sequence[tuple[torch.Tensor, float]]) -> dict[str, Any]:
        """Per layer, the blend-weighted mean of each style's statistics, made a target."""
        blend_total = float(sum(w for _, w in styles))
        sums: dict[str, list[torch.Tensor]] = {}
        for image, weight in styles:
            feats = self.features(image)
            for name in self.style_layers:
                parts = [p * (weight / blend_total) for p in self.stat.measure(feats[name], None)]
                sums[name] = (
                    [a + b for a, b in zip(sums[name], parts, strict=True)]
                    if name in sums
                    else parts
                )
        return {name: self.stat.target(parts) for name, parts in sums.items()}

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """VGG features, computed under autocast when asked, in the dtype the pass gave.

        The convolutions are where the time goes and tolerate bfloat16. The losses take
        the features as they come: Gram products run at the features' dtype with float32
        accumulation and a float32 result; means, covariances and relative errors are
        computed in float32 (losses.py).
        """
        enabled = self.autocast is not None
        with torch.autocast(image.device.type, dtype=self.autocast, enabled=enabled):
            return self.extractor(image)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``(1, 3, H, W)`` -> (total loss, ``{"content", "style", "tv", "total"}`` as floats)."""
        feats = self.features(image)
        content = sum(
            losses.content_loss(feats[n], self.content_targets[n]) for n in self.content_layers
        )
        content = content / len(self.content_layers)
        style = sum(
            r.share
            * sum(
                self.layer_weights[n] * self.stat.loss(feats[n], r.targets[n], r.weights[n])
                for n in self.style_layers
            )
            for r in self.regions
        )
        w = self.term_weights
        terms = {
            "content": w["content"] * content,
            "style": w["style"] * style,
            "tv": w["tv"] * losses.tv_loss(image),
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        values = {k: float(v.detach()) for k, v in terms.items()}
        values["total"] = float(total.detach())
        return total, values


@dataclass(frozen=True)
class _Prepared:
    share: float
    weights: dict[str, torch.Tensor | None]
    targets: dict[str, Any]


def _share(mask: torch.Tensor | None) -> float:
    """The part of the image a region covers (1.0 without a mask)."""
    return 1.0 if mask is None else float(mask.mean())


def _layer_weights(mask: torch.Tensor | None, features: torch.Tensor) -> torch.Tensor | None:
    """The mask averaged down to a layer's resolution, squared as in a Gram matrix of
    masked features ``(F * m)(F * m)^T`` (Gatys et al. 2017)."""
    if mask is None:
        return None
    mask = mask.to(features.device, torch.float32)
    return F.adaptive_avg_pool2d(mask, features.shape[-2:]).pow(2)
