"""What the network sees: Figure 1 of Gatys, Ecker & Bethge (2015) from any photo and painting.

Each panel starts from the same white noise (squeezed towards mid-grey for the content
panels, see NOISE_AMPLITUDE) and is optimised until its VGG19 features match one input's at
some layers:

* a *content* reconstruction matches the photo's feature maps at one layer; from low layers
  it gives back the photo's pixels, from high layers only its layout;
* a *style* reconstruction matches the painting's Gram matrices on a growing set of layers
  (relu1_1, then relu1_1 and relu2_1, ...); more layers give a texture of larger scale.

No total variation and no other prior: what comes back is what the features hold. Pure of
files and printing: tensors and an extractor in, panels out (``painterly explain`` draws
them with :mod:`painterly.figure`, over a VGG19 with average pooling, as the article's
figures: its gradient reaches every position, where max pooling leaves three in four
untouched at each pooling layer).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from painterly import losses
from painterly.features import VGGFeatures
from painterly.objective import feature_pass
from painterly.optimize import Progress, descend
from painterly.settings import Settings

CONTENT_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
KINDS = ("content", "style")


@dataclass(frozen=True)
class PanelSpec:
    """One reconstruction: ``kind`` is 'content' (match the photo's feature maps) or
    'style' (match the painting's Gram matrices), at ``layers``."""

    kind: str
    layers: tuple[str, ...]

    @property
    def label(self) -> str:
        """``relu3_2``, or ``relu1_1-relu3_1`` for a style panel's layer set."""
        return self.layers[0] if len(self.layers) == 1 else f"{self.layers[0]}-{self.layers[-1]}"


# The article's two rows: content at one layer per block, style on the first 1..5 blocks.
PANELS: tuple[PanelSpec, ...] = (
    *(PanelSpec("content", (name,)) for name in CONTENT_LAYERS),
    *(PanelSpec("style", STYLE_LAYERS[: n + 1]) for n in range(len(STYLE_LAYERS))),
)
LAYERS: tuple[str, ...] = (*CONTENT_LAYERS, *STYLE_LAYERS)  # what the extractor must build
# The content panels' start: white noise with this spread around mid-grey. What a panel's
# layers do not constrain keeps its start, and full-range noise (optimize's 'noise' init)
# covers the deep panels in confetti; a tenth of it leaves their layout readable
# (docs/explain.md). Style panels start from full-range noise: from the quiet start the
# Gram matrices, products of small features, give L-BFGS too little to take hold of.
NOISE_AMPLITUDE = 0.1


@dataclass(frozen=True)
class Panel:
    """A finished reconstruction: ``image`` ``(1, 3, H, W)`` in [0, 1] on the CPU, and
    ``distance``, its final relative loss (losses.py): the content loss, or the mean of the
    style losses over its layers."""

    spec: PanelSpec
    image: torch.Tensor = field(repr=False)
    distance: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.spec.kind, "layers": list(self.spec.layers), "distance": self.distance}


@dataclass(frozen=True)
class Update:
    """One step of panel ``index`` (of ``len(PANELS)``); on that panel's last step ``panel``
    holds its result."""

    index: int
    progress: Progress
    panel: Panel | None = None


def quiet(noise: torch.Tensor) -> torch.Tensor:
    """White noise in [0, 1] (``optimize.INITS["noise"]``) squeezed to mid-grey plus or minus
    ``NOISE_AMPLITUDE / 2``: where content panels start. ``(N, 3, H, W) -> (N, 3, H, W)``."""
    return 0.5 + NOISE_AMPLITUDE * (noise - 0.5)


STARTS = {"content": quiet, "style": lambda noise: noise}  # each kind's start from the noise


class Reconstruction:
    """The loss of one panel, shaped like :class:`~painterly.objective.Objective` so that
    :func:`painterly.optimize.descend` runs it: targets from an image, then the distance."""

    def __init__(
        self, extractor: VGGFeatures, spec: PanelSpec, autocast: torch.dtype | None = None
    ) -> None:
        if spec.kind not in KINDS:
            raise ValueError(f"kind={spec.kind!r}: expected one of {', '.join(KINDS)}")
        self.spec = spec
        # The pass stops at the deepest layer this panel needs: shallow panels are cheap.
        self.features = feature_pass(functools.partial(extractor, layers=spec.layers), autocast)

    def content_targets(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature maps (content) or Gram matrices (style) of ``image``, computed once."""
        with torch.no_grad():
            feats = self.features(image)
            if self.spec.kind == "content":
                return {n: feats[n].float() for n in self.spec.layers}
            return {n: losses.gram(feats[n]) for n in self.spec.layers}

    def distance(self, images: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        feats = self.features(images)
        if self.spec.kind == "content":
            parts = [losses.content_loss(feats[n], targets[n]) for n in self.spec.layers]
        else:
            parts = [losses.style_loss(feats[n], targets[n]) for n in self.spec.layers]
        return torch.stack(parts).mean()

    def __call__(
        self, images: torch.Tensor, targets: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.distance(images, targets)
        value = float(loss.detach())
        return loss, {self.spec.kind: value, "total": value}


def explain(
    extractor: VGGFeatures,
    content: torch.Tensor,
    style: torch.Tensor,
    noise: torch.Tensor,
    steps: int,
    settings: Settings | None = None,
    autocast: torch.dtype | None = None,
) -> Iterator[Update]:
    """Reconstruct every panel of :data:`PANELS` from ``noise`` (white noise in [0, 1] the
    size of ``content``, ``(1, 3, H, W)``; each kind starts from it as :data:`STARTS` says),
    ``steps`` optimiser steps each; yields an :class:`Update` after every step.
    ``settings`` gives the optimiser and learning rate (default: L-BFGS, as the article).
    Style panels are painted at the photo's size. Stopping the generator stops the work."""
    settings = settings if settings is not None else Settings()
    for index, spec in enumerate(PANELS):
        objective = Reconstruction(extractor, spec, autocast)
        target = content if spec.kind == "content" else style
        run = descend(objective, target, settings, STARTS[spec.kind](noise), steps)
        last = None
        while True:
            try:
                last = next(run)
            except StopIteration as done:
                image = done.value.detach().clamp(0, 1)
                break
            if last.step < steps:
                yield Update(index, last)
        assert last is not None  # steps >= 1
        panel = Panel(spec, image.to("cpu", copy=True), _final(objective, target, image))
        yield Update(index, last, panel)


def _final(objective: Reconstruction, target: torch.Tensor, image: torch.Tensor) -> float:
    """The distance of the image as shown (clamped to [0, 1])."""
    with torch.no_grad():
        return float(objective.distance(image, objective.content_targets(target)))


__all__ = [
    "KINDS",
    "LAYERS",
    "PANELS",
    "Panel",
    "PanelSpec",
    "Reconstruction",
    "STARTS",
    "Update",
    "explain",
    "quiet",
]
