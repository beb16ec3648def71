"""The optimisation loop: optimiser and init registries; yields Progress; no I/O."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from painterly.features import VGGFeatures
from painterly.objective import Objective
from painterly.settings import Settings


class NumericsError(RuntimeError):
    """The loss or the image stopped being finite."""


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimiser over the image, and its learning rate by default."""

    make: Callable[[list[torch.Tensor], float], torch.optim.Optimizer]
    default_lr: float


def _lbfgs(params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    # One iteration per step() call (history kept in the optimiser's state), so each step is
    # one function evaluation and can be reported. No line search, as in neural-style: the
    # L-BFGS curvature estimate sets the step length. Tolerances 0: we decide when to stop.
    return torch.optim.LBFGS(
        params, lr=lr, max_iter=1, history_size=50, tolerance_grad=0.0, tolerance_change=0.0
    )


def _adam(params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "lbfgs": OptimizerSpec(_lbfgs, 1.0),
    "adam": OptimizerSpec(_adam, 0.02),  # in [0, 1] pixel units
}

InitFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

INITS: dict[str, InitFn] = {
    "content": lambda content, gen: content.clone(),
    # White noise, as in Gatys et al.; drawn on the CPU so a seed gives the same start anywhere.
    "noise": lambda content, gen: torch.rand(content.shape, generator=gen).to(content.device),
}


@dataclass(frozen=True)
class Progress:
    """One step of a run. ``image()`` returns the current image, ``(1, 3, H, W)`` in [0, 1]."""

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    _snapshot: Callable[[], torch.Tensor] = field(repr=False, compare=False)

    def image(self) -> torch.Tensor:
        return self._snapshot()

    @property
    def done(self) -> bool:
        return self.step >= self.total


def run(
    extractor: VGGFeatures,
    content: torch.Tensor,
    styles: Sequence[tuple[torch.Tensor, float]],
    settings: Settings,
    start: torch.Tensor,
) -> Iterator[Progress]:
    """Optimise ``start`` (``(1, 3, H, W)``) for ``settings.steps`` steps, yielding after each.

    Stopping the generator stops the run. Raises NumericsError if the loss or image
    becomes NaN or infinite.
    """
    objective = Objective(extractor, content, styles, settings)
    image = start.detach().clone().requires_grad_(True)
    spec = OPTIMIZERS[settings.optimizer]
    optimizer = spec.make([image], settings.lr if settings.lr is not None else spec.default_lr)
    clamp = settings.optimizer != "lbfgs"  # clamping would corrupt L-BFGS's curvature history
    last: dict[str, float] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss, values = objective(image)
        loss.backward()
        last.update(values)
        return loss

    def snapshot() -> torch.Tensor:
        return image.detach().clamp(0, 1).to("cpu", copy=True)

    began = time.perf_counter()
    size = (image.shape[-2], image.shape[-1])
    for step in range(1, settings.steps + 1):
        optimizer.step(closure)
        if clamp:
            with torch.no_grad():
                image.clamp_(0, 1)
        if not math.isfinite(last["total"]) or not torch.isfinite(image).all():
            raise NumericsError(
                f"the loss became {last['total']} at step {step}; lower --lr or the loss weights"
            )
        yield Progress(
            step, settings.steps, dict(last), time.perf_counter() - began, size, snapshot
        )


def initial_image(
    init: str, content: torch.Tensor, generator: torch.Generator, init_image: torch.Tensor | None
) -> torch.Tensor:
    """The starting image: a registered init by name, or ``init_image`` when given a path."""
    if init in INITS:
        return INITS[init](content, generator)
    if init_image is None:
        raise ValueError(f"init={init!r} is a path but no init image was supplied")
    return init_image.to(content.device)
