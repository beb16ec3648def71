"""The optimisation loop: optimiser and init registries; yields Progress; no I/O."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from painterly.errors import NumericsError
from painterly.features import VGGFeatures
from painterly.image import resize
from painterly.objective import (
    Objective,
    Region,
    StyleTargets,
    TiledObjective,
    feature_pass,
    style_targets,
)
from painterly.settings import Settings


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser over the image: how to build it (``build(params, lr, history)``), its
    learning rate by default, whether the image is clamped to [0, 1] after each step, and
    how many past (step, gradient-change) pairs it keeps, each the image's size."""

    build: Callable[[list[torch.Tensor], float, int], torch.optim.Optimizer]
    default_lr: float
    clamp: bool
    history: int = 0

    def make(self, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        return self.build(params, lr, self.history)

    @property
    def state_images(self) -> int:
        """Image-sized tensors of optimiser state (the memory estimate counts them)."""
        return 2 * self.history + 2 if self.history else 2  # Adam: two moments


def _lbfgs(params: list[torch.Tensor], lr: float, history: int) -> torch.optim.Optimizer:
    # One iteration per step() call (history kept in the optimiser's state), so each step is
    # one function evaluation and can be reported. No line search, as in neural-style: the
    # L-BFGS curvature estimate sets the step length. Tolerances 0: we decide when to stop.
    return torch.optim.LBFGS(
        params, lr=lr, max_iter=1, history_size=history, tolerance_grad=0.0, tolerance_change=0.0
    )


def _adam(params: list[torch.Tensor], lr: float, history: int) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    # Never clamped: clamping between steps would corrupt the L-BFGS curvature history.
    "lbfgs": OptimizerSpec(_lbfgs, 1.0, clamp=False, history=50),
    "adam": OptimizerSpec(_adam, 0.02, clamp=True),  # lr in [0, 1] pixel units
}

InitFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

INITS: dict[str, InitFn] = {
    "content": lambda content, gen: content.clone(),
    # White noise, as in Gatys et al.; drawn on the CPU so a seed gives the same start anywhere.
    "noise": lambda content, gen: torch.rand(content.shape, generator=gen).to(content.device),
}


@dataclass(frozen=True)
class Stage:
    """One scale of a coarse-to-fine run: its content and style images and its step count.

    ``finish`` maps the optimised image to the one shown (e.g. putting colours back).
    ``targets`` are the style targets at this scale, computed once (by ``api.prepare``, or
    by :func:`run` when missing) and shared by every image painted at this scale.
    """

    content: torch.Tensor
    styles: tuple[tuple[torch.Tensor, float], ...]
    steps: int
    finish: Callable[[torch.Tensor], torch.Tensor] | None = None
    regions: tuple[Region, ...] | None = None  # spatial control; None: the style everywhere
    targets: StyleTargets | None = None
    tile: int | None = None  # evaluated in tiles of this side (runtime.plan_memory); None: whole
    history: int | None = None  # L-BFGS pairs kept; None: the optimiser's own

    @property
    def size(self) -> tuple[int, int]:
        return (self.content.shape[-2], self.content.shape[-1])


@dataclass(frozen=True, kw_only=True)
class Progress:
    """One step of a run. ``image()`` returns the current image, ``(1, 3, H, W)`` in [0, 1];
    ``state()`` returns what a checkpoint needs to continue exactly from here.
    ``scale`` counts the scales of a coarse-to-fine run from 0 (coarsest) to ``scales - 1``."""

    step: int
    total: int
    losses: dict[str, float]
    elapsed: float
    size: tuple[int, int]
    _snapshot: Callable[[], torch.Tensor] = field(repr=False, compare=False)
    _state: Callable[[], RunState] = field(repr=False, compare=False)
    scale: int = 0
    scales: int = 1

    def image(self) -> torch.Tensor:
        return self._snapshot()

    def state(self) -> RunState:
        return self._state()

    @property
    def done(self) -> bool:
        return self.step >= self.total


@dataclass(frozen=True, kw_only=True)
class RunState:
    """The optimisation state after ``step`` steps (counted over all scales): the scale, the
    raw (unclamped) image, the optimiser's state dict and learning rate. Enough to continue
    bit for bit."""

    step: int
    image: torch.Tensor
    optimizer: dict[str, Any]
    lr: float
    scale: int = 0
    average: torch.Tensor | None = None  # the moving average's running sum (with --ema)
    average_count: int = 0


MAX_RECOVERIES = 3  # halvings of the step size before a diverging run is given up
# A step that moves the pixels by more than this (root mean square, [0, 1] units) ran away:
# L-BFGS steps measure up to ~0.1; torch's L-BFGS keeps a curvature pair only when y.s
# exceeds an absolute 1e-10, and our scale-free losses put y.s near that line at the start
# of a scale, where a rounding difference can admit a pair that makes a step of ~1.2.
MAX_STEP_RMS = 0.5


def run(
    extractor: VGGFeatures,
    stages: Sequence[Stage],
    settings: Settings,
    start: torch.Tensor,
    resume: RunState | None = None,
    autocast: torch.dtype | None = None,
) -> Iterator[Progress]:
    """Optimise ``start`` through ``stages`` (coarse to fine), yielding after every step.

    Each stage begins from the previous stage's result, resampled to its size, with its own
    targets (the style is seen at each scale's size) and a fresh optimiser: L-BFGS's history
    belongs to one image size. ``resume`` continues from a saved :class:`RunState`;
    ``autocast`` (e.g. torch.bfloat16) is the dtype of the VGG passes (None: float32).
    Stopping the generator stops the run.
    """
    if not stages:
        raise ValueError("no stages to run")
    total = sum(stage.steps for stage in stages)
    first = resume.scale if resume is not None else 0
    image = resume.image.to(start.device) if resume is not None else start
    done = sum(stage.steps for stage in stages[:first])
    began = time.perf_counter()
    for index in range(first, len(stages)):
        stage = stages[index]
        if tuple(image.shape[-2:]) != stage.size:
            image = upscale(image.clamp(0, 1), stage.content)
        stage_resume = resume if resume is not None and index == first else None
        position = _Position(done, total, index, len(stages), began)
        image = yield from _run_stage(
            extractor, stage, settings, image, position, stage_resume, autocast
        )
        done += stage.steps


def upscale(image: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """A coarser scale's result at ``content``'s size, with the detail that the coarser scale
    could not hold taken from the photo: its high frequencies (``content`` minus its own
    round trip through the coarse size) are added, so the finer scale starts sharp."""
    size = tuple(content.shape[-2:])
    detail = content - resize(resize(content, tuple(image.shape[-2:])), size)
    return (resize(image, size) + detail).clamp(0, 1)


@dataclass(frozen=True)
class _Position:
    """Where a stage sits in the whole run, for its Progress values."""

    offset: int
    total: int
    scale: int
    scales: int
    began: float


def _run_stage(
    extractor: VGGFeatures,
    stage: Stage,
    settings: Settings,
    start: torch.Tensor,
    at: _Position,
    resume: RunState | None,
    autocast: torch.dtype | None,
) -> Generator[Progress, None, torch.Tensor]:
    """Optimise one scale; returns its final raw image."""
    targets = stage.targets
    if targets is None:
        features = feature_pass(extractor, autocast)
        targets = style_targets(features, stage.styles, settings, stage.regions)
    objective: ObjectiveLike = Objective(extractor, targets, settings, autocast)
    if stage.tile is not None:
        objective = TiledObjective(objective, stage.tile)
    live = _LiveStage(objective, stage.content, settings, start, at, resume, stage.history)
    return (yield from _steps(live, stage, at))


class ObjectiveLike(Protocol):
    """What the loop needs of an objective: targets computed once from an image, then the
    loss of a batch against them (:class:`~painterly.objective.Objective` is one)."""

    def content_targets(self, content: torch.Tensor) -> Any: ...

    def __call__(
        self, images: torch.Tensor, targets: Any
    ) -> tuple[torch.Tensor, dict[str, float]]: ...


def descend(
    objective: ObjectiveLike,
    target: torch.Tensor,
    settings: Settings,
    start: torch.Tensor,
    steps: int,
) -> Generator[Progress, None, torch.Tensor]:
    """Optimise ``start`` for ``steps`` steps against any objective shaped like
    :class:`Objective` (``content_targets(target)``, then ``objective(images, targets)``),
    at one scale, with ``settings``' optimiser, learning rate and recovery from non-finite
    steps; yields Progress after every step and returns the final raw image. The loop of
    :func:`run` for other objectives (e.g. ``painterly explain``'s reconstructions)."""
    at = _Position(0, steps, 0, 1, time.perf_counter())
    live = _LiveStage(objective, target, settings, start, at, None)
    return (yield from _steps(live, Stage(target, (), steps), at))


def _steps(
    live: _LiveStage, stage: Stage, at: _Position
) -> Generator[Progress, None, torch.Tensor]:
    """Advance ``live`` to the end of ``stage``, yielding Progress; returns the final image."""
    end = at.offset + stage.steps
    while live.step < end:
        if not live.advance():
            continue  # not finite: undone, with a smaller step size
        yield Progress(
            step=live.step,
            total=at.total,
            losses=dict(live.last),
            elapsed=time.perf_counter() - at.began,
            size=stage.size,
            scale=at.scale,
            scales=at.scales,
            _snapshot=lambda: live.snapshot(stage.finish),
            _state=live.state,
        )
    return live.average.value(live.good)


class _LiveStage:
    """One scale's optimisation in progress: the image, its optimiser and step size, the
    last good image (after the last completed step) and the moving average.

    If the loss or image stops being finite, or a step runs away (MAX_STEP_RMS), the last
    good image is restored and the step size halved (up to MAX_RECOVERIES times); then
    NumericsError.
    """

    def __init__(
        self,
        objective: ObjectiveLike,
        content: torch.Tensor,
        settings: Settings,
        start: torch.Tensor,
        at: _Position,
        resume: RunState | None,
        history: int | None = None,
    ) -> None:
        self.objective = objective
        self.targets = objective.content_targets(content)
        self.spec = OPTIMIZERS[settings.optimizer]
        self.history = history if history is not None else self.spec.history
        self.lr = settings.lr if settings.lr is not None else self.spec.default_lr
        self.step = at.offset
        self.scale = at.scale
        if resume is not None:
            self.step, self.lr = resume.step, resume.lr
        self.image = start.detach().to(torch.float32).clone().requires_grad_(True)
        self.optimizer = self.spec.build([self.image], self.lr, self.history)
        if resume is not None:
            self.optimizer.load_state_dict(resume.optimizer)
        self.last: dict[str, float] = {}
        self.good = self.image.detach().clone()
        self.average = _Average(settings.ema, self.good)
        if resume is not None and resume.average is not None:
            self.average.restore(resume.average.to(self.good.device), resume.average_count)
        self.recoveries = 0

    def closure(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss, values = self.objective(self.image, self.targets)
        loss.backward()
        self.last.update(values)
        return loss

    def advance(self) -> bool:
        """One optimiser step; False if it was undone because it was not finite or ran
        away (moved the pixels by more than MAX_STEP_RMS)."""
        self.optimizer.step(self.closure)
        if self.spec.clamp:
            with torch.no_grad():
                self.image.clamp_(0, 1)
        finite = math.isfinite(self.last["total"]) and bool(torch.isfinite(self.image).all())
        moved = float((self.image.detach() - self.good).pow(2).mean().sqrt()) if finite else 0.0
        if not finite or moved > MAX_STEP_RMS:
            if self.recoveries == MAX_RECOVERIES:
                what = f"the loss became {self.last['total']}" if not finite else "a step ran away"
                raise NumericsError(
                    f"{what} at step {self.step + 1} and stayed so after {MAX_RECOVERIES} "
                    "smaller steps; lower --lr or the loss weights"
                )
            self.recoveries += 1
            self.lr /= 2  # the history that led here is discarded with the old optimiser
            with torch.no_grad():
                self.image.copy_(self.good)
            self.optimizer = self.spec.build([self.image], self.lr, self.history)
            return False
        self.step += 1
        self.good.copy_(self.image.detach())
        self.average.update(self.good)
        return True

    # Both read `good`, the image after the last completed step: even if they are called
    # while a step is under way (Ctrl-C), they never see a half-updated or NaN image.
    def snapshot(self, finish: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
        shown = self.average.value(self.good).clamp(0, 1)
        return (finish(shown) if finish else shown).to("cpu", copy=True)

    def state(self) -> RunState:
        opt_state = frozen_copy(self.optimizer.state_dict())  # a snapshot, not live tensors
        avg = self.average
        total = avg.sum.to("cpu", copy=True) if avg.sum is not None else None
        return RunState(
            step=self.step,
            image=self.good.to("cpu", copy=True),
            optimizer=opt_state,
            lr=self.lr,
            scale=self.scale,
            average=total,
            average_count=avg.count,
        )


# torch's L-BFGS makes each curvature pair afresh and never writes to it again (only the
# lists holding them change), so a snapshot may share them.
_WRITTEN_ONCE = ("old_dirs", "old_stps")


def frozen_copy(state_dict: dict[str, Any]) -> dict[str, Any]:
    """An optimiser's ``state_dict`` that later steps cannot change: a deep copy that shares
    L-BFGS's curvature pairs. They are 2 x history image-sized vectors, most of the state
    at print size (at 4K with a history of 10, 2 GB that a deep copy would double)."""
    memo: dict[int, Any] = {}
    for per_param in state_dict.get("state", {}).values():
        for key in _WRITTEN_ONCE:
            for pair in per_param.get(key) or ():
                memo[id(pair)] = pair
    return copy.deepcopy(state_dict, memo)


class _Average:
    """Exponential moving average of the image, bias-corrected (Adam-style) so that early
    steps are not pulled towards zero; ``decay == 0`` means no averaging."""

    def __init__(self, decay: float, like: torch.Tensor) -> None:
        self.decay = decay
        self.sum = torch.zeros_like(like) if decay > 0 else None
        self.count = 0

    def update(self, image: torch.Tensor) -> None:
        if self.sum is not None:
            self.sum.mul_(self.decay).add_(image, alpha=1 - self.decay)
            self.count += 1

    def restore(self, total: torch.Tensor, count: int) -> None:
        if self.sum is not None:
            self.sum.copy_(total)
            self.count = count

    def value(self, image: torch.Tensor) -> torch.Tensor:
        if self.sum is None or self.count == 0:
            return image
        return self.sum / (1 - self.decay**self.count)


def initial_image(
    init: str,
    content: torch.Tensor,
    generator: torch.Generator,
    init_image: torch.Tensor | None = None,
) -> torch.Tensor:
    """The starting image: ``init_image`` when given, else the registered init ``init``."""
    if init_image is not None:
        return init_image.to(content.device)
    return INITS[init](content, generator)
