"""The objective: targets computed once (no_grad), then total and per-term losses of an image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from painterly import losses
from painterly.features import VGGFeatures
from painterly.settings import Settings


@dataclass(frozen=True)
class StyleStatistic:
    """A style statistic: ``measure`` gives tensors that blend linearly across styles,
    ``target`` turns a blend into what ``loss(features, target)`` compares against."""

    measure: Callable[[torch.Tensor], list[torch.Tensor]]
    target: Callable[[list[torch.Tensor]], Any]
    loss: Callable[[torch.Tensor, Any], torch.Tensor]


STYLE_STATISTICS: dict[str, StyleStatistic] = {
    # Gatys et al.: Gram matrices; blending averages them.
    "gram": StyleStatistic(
        lambda f: [losses.gram(f)],
        lambda parts: parts[0],
        losses.style_loss,
    ),
    # Mean and covariance, compared by Wasserstein-2; blending averages means and covariances.
    "meancov": StyleStatistic(
        lambda f: list(losses.mean_cov(f)),
        lambda parts: (parts[0], losses.sqrtm_psd(parts[1].double()).float()),
        lambda f, target: losses.wasserstein2_loss(f, *target),
    ),
}


class Objective:
    """Weighted content + style + total-variation loss for one content and blended styles.

    ``styles`` are ``(image, blend weight)`` pairs; their statistics (Gram matrices, or means
    and covariances) are blended per layer (weights normalised to sum to 1), which paints one
    texture that mixes the paintings.
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        content: torch.Tensor,
        styles: Sequence[tuple[torch.Tensor, float]],
        settings: Settings,
        autocast: torch.dtype | None = None,
    ) -> None:
        if not styles:
            raise ValueError("at least one style image is needed")
        self.extractor = extractor
        self.settings = settings
        self.autocast = autocast
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
        with torch.no_grad():
            feats = self.features(content)
            self.content_targets = {n: feats[n].detach() for n in self.content_layers}
            self.style_targets = self._blend(styles)

    def _blend(self, styles: Sequence[tuple[torch.Tensor, float]]) -> dict[str, Any]:
        """Per layer, the blend-weighted mean of each style's statistics, made a target."""
        stat = STYLE_STATISTICS[self.settings.style_stats]
        blend_total = float(sum(w for _, w in styles))
        sums: dict[str, list[torch.Tensor]] = {}
        for image, weight in styles:
            feats = self.features(image)
            for name in self.style_layers:
                parts = [p * (weight / blend_total) for p in stat.measure(feats[name])]
                sums[name] = (
                    [a + b for a, b in zip(sums[name], parts, strict=True)]
                    if name in sums
                    else parts
                )
        return {name: stat.target(parts) for name, parts in sums.items()}

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """VGG features, computed under autocast when asked, returned as float32.

        The convolutions are where the time goes and tolerate bfloat16; Gram matrices and
        relative errors are sums of many products and stay in float32.
        """
        enabled = self.autocast is not None
        with torch.autocast(image.device.type, dtype=self.autocast, enabled=enabled):
            feats = self.extractor(image)
        return {name: f.float() for name, f in feats.items()}

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``(1, 3, H, W)`` -> (total loss, ``{"content", "style", "tv", "total"}`` as floats)."""
        feats = self.features(image)
        content = sum(
            losses.content_loss(feats[n], self.content_targets[n]) for n in self.content_layers
        )
        content = content / len(self.content_layers)
        stat = STYLE_STATISTICS[self.settings.style_stats]
        style = sum(
            self.layer_weights[n] * stat.loss(feats[n], self.style_targets[n])
            for n in self.style_layers
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
