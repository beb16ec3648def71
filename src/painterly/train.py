"""Training a feed-forward network for one painting (or a blend) with the same perceptual
objective as the optimisation engine: one set of :class:`StyleTargets`, content targets per
batch of photo crops, Adam with a warm-up and a cosine decay. Yields a progress value per
step; ``state()`` is what a checkpoint needs to continue bit for bit. No files, no printing.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from painterly.errors import InputError, NumericsError
from painterly.features import VGGFeatures
from painterly.guides import painting_colours
from painterly.image import fit_size, resize, resize_long_side
from painterly.objective import Objective, feature_pass, style_targets
from painterly.settings import TRAIN_COLOUR_MODES, Settings, TrainOptions
from painterly.transform import ARCHITECTURES, NetSpec, TransformNet, build

WARMUP = 0.05  # share of the steps over which the learning rate rises from 0
FINAL_LR = 0.1  # the cosine decay ends at this fraction of the peak learning rate


def learning_rate(peak: float, step: int, total: int) -> float:
    """Linear warm-up over the first ``WARMUP`` of the steps, then a cosine decay from
    ``peak`` to ``FINAL_LR * peak``; ``step`` counts from 0."""
    warm = max(1, round(WARMUP * total))
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * (FINAL_LR + (1 - FINAL_LR) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True, kw_only=True)
class TrainProgress:
    """One training step: the losses of its batch (means over the batch)."""

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    trainer: Trainer = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.step >= self.total


class Trainer:
    """The network, its optimiser, the crops' random generator and the objective.

    ``photos`` are ``(1, 3, H, W)`` images; ``styles`` ``(image, blend weight)`` pairs, both
    in [0, 1]. ``state`` continues a run saved with :meth:`state`.
    """

    def __init__(
        self,
        extractor: VGGFeatures,
        photos: Sequence[torch.Tensor],
        styles: Sequence[tuple[torch.Tensor, float]],
        settings: Settings,
        options: TrainOptions,
        *,
        device: torch.device,
        autocast: torch.dtype | None = None,
        seed: int = 0,
        state: dict[str, Any] | None = None,
    ) -> None:
        if not photos:
            raise InputError("no photos to train on")
        if settings.preserve_color not in TRAIN_COLOUR_MODES:
            raise InputError(
                f"train: --preserve-color {settings.preserve_color} is an option of 'painterly "
                f"apply', not of training (training takes {', '.join(TRAIN_COLOUR_MODES)})"
            )
        self.options, self.device, self.autocast = options, device, autocast
        self.photos = [_fit_photo(p, options) for p in photos]
        style_side = max(1, round(options.photo_side * settings.style_scale))
        scaled = [(resize_long_side(img, style_side).to(device), w) for img, w in styles]
        # 'painting': the content loss sees each photo recoloured with the painting's palette,
        # as the optimisation engine's mode of that name does, so the network learns to
        # repaint the photo's colours too; otherwise the photos are their own targets
        self.targets: list[torch.Tensor] | None = None
        if settings.preserve_color == "painting":
            self.targets = [painting_colours(p, list(styles)) for p in self.photos]
        targets = style_targets(feature_pass(extractor, autocast), scaled, settings)
        self.objective = Objective(extractor, targets, settings, autocast)
        with torch.random.fork_rng(devices=[]):  # the initial weights, from the seed alone
            torch.manual_seed(seed)
            described = state.get("net_spec") if state is not None else None
            design = NetSpec.from_dict(described) if described else _design(options)
            self.net: TransformNet = build(design).to(device).train()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=options.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0
        if state is not None:
            try:
                self.net.load_state_dict(state["net"])
            except RuntimeError:  # a checkpoint from before the spec was kept in it
                raise InputError(
                    f"the checkpoint's network is not what this painterly builds for --arch "
                    f"{options.architecture}: an earlier version made it; finish it with "
                    "that version, or start again"
                ) from None
            self.optimizer.load_state_dict(state["optimizer"])
            self.generator.set_state(state["generator"])
            self.step = int(state["step"])

    def batch(self) -> torch.Tensor:
        """``batch`` random crops (each from a random photo, flipped half the time)."""
        return self._crops()[0]

    def _crops(self) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`batch`, and the same crops of the content targets' photos (the crops
        themselves, unless the targets are recoloured)."""
        size, crops, targets = self.options.crop, [], []
        for _ in range(self.options.batch):
            index = int(torch.randint(len(self.photos), (1,), generator=self.generator))
            photo = self.photos[index]
            top = int(torch.randint(photo.shape[-2] - size + 1, (1,), generator=self.generator))
            left = int(torch.randint(photo.shape[-1] - size + 1, (1,), generator=self.generator))
            window = (..., slice(top, top + size), slice(left, left + size))
            flip = bool(torch.rand(1, generator=self.generator) < 0.5)
            for source, out in ((self.photos, crops), (self.targets, targets)):
                if source is not None:
                    crop = source[index][window]
                    out.append(crop.flip(-1) if flip else crop)
        batch = torch.cat(crops).to(self.device)
        return batch, torch.cat(targets).to(self.device) if targets else batch

    def advance(self) -> dict[str, float]:
        """One optimiser step on a fresh batch; returns its losses."""
        crops, targets = self._crops()
        noise = self.net.draw_noise(crops, self.generator)  # fresh each step, if it takes any
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.options.lr, self.step, self.options.steps)
        self.optimizer.zero_grad(set_to_none=True)
        enabled = self.autocast is not None
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=enabled):
            stylised = self.net(crops, noise)
        loss, values = self.objective(stylised, self.objective.content_targets(targets))
        if not math.isfinite(values["total"]):
            raise NumericsError(
                f"the training loss became {values['total']} at step {self.step + 1}; "
                "lower --lr or the loss weights"
            )
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return values

    def run(self) -> Iterator[TrainProgress]:
        """Train to ``options.steps``, yielding after every step; stopping stops it."""
        began = time.perf_counter()
        while self.step < self.options.steps:
            values = self.advance()
            yield TrainProgress(
                step=self.step,
                total=self.options.steps,
                losses=values,
                elapsed=time.perf_counter() - began,
                trainer=self,
            )

    def state(self) -> dict[str, Any]:
        """A snapshot to continue from (tensors copied to the CPU)."""
        return {
            "step": self.step,
            "net_spec": self.net.spec.to_dict(),  # the design, whatever the name means later
            "net": {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
        }

    @torch.no_grad()
    def stylize(self, image: torch.Tensor) -> torch.Tensor:
        """The network as it is now, applied to ``image`` (for previews)."""
        was_training = self.net.training
        self.net.eval()
        try:
            return self.net(image.to(self.device)).cpu()
        finally:
            self.net.train(was_training)


def _design(options: TrainOptions) -> NetSpec:
    """The network ``options`` ask for: the architecture's, with ``noise`` channels if given."""
    spec = ARCHITECTURES[options.architecture]
    return spec if options.noise is None else dataclasses.replace(spec, noise=options.noise)


def _fit_photo(photo: torch.Tensor, options: TrainOptions) -> torch.Tensor:
    """The photo at ``photo_side``, enlarged if needed so that a crop fits inside."""
    height, width = fit_size(photo.shape[-2], photo.shape[-1], options.photo_side)
    short = min(height, width)
    if short < options.crop:
        height, width = round(height * options.crop / short), round(width * options.crop / short)
        height, width = max(height, options.crop), max(width, options.crop)
    return resize(photo, (height, width))


__all__ = ["TrainOptions", "TrainProgress", "Trainer", "learning_rate"]
