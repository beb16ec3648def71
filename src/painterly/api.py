"""The public entry points: ``prepare`` turns :class:`Inputs` and :class:`Settings` into a
:class:`Job`; ``stylize`` and ``iterate`` take paths, PIL images, arrays or tensors.

This is the one layer that joins files (io), weights and the loop; the loop itself
(optimize.run) sees only tensors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from painterly import allocator, guides, io, runtime, weights
from painterly.arch import downsampling
from painterly.errors import InputError
from painterly.features import VGGFeatures
from painterly.image import fit_size, luminance, resize, resize_long_side
from painterly.inputs import ImageSource, Inputs, StyleSpec
from painterly.objective import feature_pass, style_targets
from painterly.optimize import Progress, RunState, Stage, initial_image, run
from painterly.settings import Settings
from painterly.version import __version__


@dataclass(frozen=True)
class Job:
    """Everything a run needs, checked and loaded: one Stage per scale (images and style
    targets on the device), the start image, the extractor, the inputs, and the settings
    with the seed resolved (so the run can be repeated from its record)."""

    settings: Settings
    inputs: Inputs
    stages: tuple[Stage, ...]
    start: torch.Tensor
    extractor: VGGFeatures
    record: dict[str, Any]
    autocast: torch.dtype | None = None  # dtype of the VGG passes; None = float32

    @property
    def content(self) -> torch.Tensor:
        """The content image at the output's size."""
        return self.stages[-1].content

    @property
    def styles(self) -> tuple[tuple[torch.Tensor, float], ...]:
        """The style images and blend weights at the final scale."""
        return self.stages[-1].styles

    @property
    def total_steps(self) -> int:
        return sum(stage.steps for stage in self.stages)

    def run(self, resume: RunState | None = None) -> Iterator[Progress]:
        """Optimise, yielding a Progress after every step; ``resume`` continues a saved run."""
        return run(self.extractor, self.stages, self.settings, self.start, resume, self.autocast)


def make_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """``settings`` (or the defaults) with keyword overrides applied and validated."""
    base = settings if settings is not None else Settings()
    return base.replace(**overrides) if overrides else base


def prepare(
    inputs: Inputs,
    settings: Settings | None = None,
    *,
    extractor: VGGFeatures | None = None,
    **overrides: Any,
) -> Job:
    """Load and check everything for a run; cheap errors (settings, files) come first.

    The style targets of every scale are computed here, once. ``extractor`` reuses an
    already built feature extractor (it must cover the layers and match the pooling).
    """
    if not isinstance(inputs, Inputs):
        raise TypeError("prepare takes Inputs: Inputs.of(content, styles, ...)")
    s = make_settings(settings, **overrides)
    s = s.replace(seed=runtime.resolve_seed(s.seed))
    device = runtime.resolve_device(s.device)
    autocast = runtime.resolve_precision(s.precision, device)
    content_img, style_imgs, init_img = _load_images(inputs, s, device)
    masks = _load_masks(inputs, s)
    plain = [
        _stage(content_img, style_imgs, masks, s, side, steps, device)
        for side, steps in zip(s.scales, s.steps_per_scale, strict=True)
    ]  # every cheap check passed: now the weights
    if any(stage.tile is not None for stage in plain):
        allocator.give_back_freed_memory()  # a memory budget: no kept, fragmenting heap
    if extractor is None:
        w = weights.load(inputs.weights_file or s.weights)
        extractor = VGGFeatures(w, s.content_layers + s.style_layers, pooling=s.pooling)
    _check_extractor(extractor, s)
    extractor = extractor.to(device)
    features = feature_pass(extractor, autocast)
    stages = [
        dataclasses.replace(
            stage,
            targets=style_targets(features, stage.styles, s, stage.regions, stage.tile),
        )
        for stage in plain
    ]
    first = stages[0]
    if init_img is not None:
        init_img = guides.colour_mode(s.preserve_color).start(resize(init_img, first.size))
        init_img = init_img.to(device)
    start = initial_image(s.init, first.content, runtime.generator(s.seed), init_img)
    record = {
        "version": __version__,
        **inputs.record(),
        "settings": s.to_dict(),
        "scales": [list(stage.size) for stage in stages],
        "tiles": [stage.tile for stage in stages],
        "precision": "bf16" if autocast == torch.bfloat16 else "fp32",
        "device": device.type,
    }
    return Job(s, inputs, tuple(stages), start, extractor, record, autocast)


def _load_images(
    inputs: Inputs, s: Settings, device: torch.device
) -> tuple[torch.Tensor, list[tuple[torch.Tensor, float]], torch.Tensor | None]:
    """The inputs, no larger than the final scale needs (content at ``s.size``, styles at
    ``s.size * s.style_scale``); the memory check runs before the content is resized, so a
    huge request fails cheaply."""
    original = io.load_image(inputs.content, s.max_input_pixels)
    height, width = fit_size(original.shape[-2], original.shape[-1], s.size)
    runtime.check_memory(height, width, s, device)
    content_img = resize(original, (height, width))
    style_imgs = []
    style_size = max(1, round(s.size * s.style_scale))
    for source, weight in inputs.styles:
        image = io.load_image(source, s.max_input_pixels)
        if max(image.shape[-2:]) > style_size:  # keep no more pixels than the last scale needs
            image = resize_long_side(image, style_size)
        style_imgs.append((image, weight))
    init_img = None
    if inputs.init_image is not None:
        init_img = io.load_image(inputs.init_image, s.max_input_pixels)
    return content_img, style_imgs, init_img


def _load_masks(inputs: Inputs, s: Settings) -> guides.Masks:
    """``mask`` and ``style_masks`` as gray levels (white = 1)."""

    def read(source: ImageSource) -> torch.Tensor:
        return luminance(io.load_image(source, s.max_input_pixels)).clamp(0, 1)

    return guides.Masks(
        read(inputs.mask) if inputs.mask is not None else None,
        tuple(read(m) for m in inputs.style_masks) if inputs.style_masks is not None else None,
    )


def _stage(
    content: torch.Tensor,
    styles: list[tuple[torch.Tensor, float]],
    masks: guides.Masks,
    s: Settings,
    side: int,
    steps: int,
    device: torch.device,
) -> Stage:
    """One scale: the content at long side ``side``, each style at ``side * style_scale``,
    rewritten for the colour mode and the masks, on the device."""
    content_img = resize_long_side(content, side)
    _check_feature_size(content_img, s, f"content image at {side} px")
    style_side = max(1, round(side * s.style_scale))
    scaled = []
    for number, (image, weight) in enumerate(styles, start=1):
        image = resize_long_side(image, style_side)
        _check_feature_size(image, s, f"style image {number} at {style_side} px")
        scaled.append((image, weight))
    photo = content_img
    content_img, scaled, finish = guides.colour_mode(s.preserve_color).rewrite(content_img, scaled)
    styles_on_device = tuple((img.to(device), w) for img, w in scaled)
    regions, finish = guides.regions(
        masks.at(content_img.shape[-2:]), styles_on_device, photo, finish
    )
    plan = runtime.plan_memory(*content_img.shape[-2:], s, device)
    if plan.tile is not None and regions is not None:
        raise InputError(
            f"the scale of {side} px is evaluated in tiles of {plan.tile} px, which take no "
            "masks; use a smaller --size or more --max-memory"
        )
    return Stage(
        content_img.to(device),
        styles_on_device,
        steps,
        finish,
        regions,
        tile=plan.tile,
        history=plan.history,
    )


def iterate(
    content: ImageSource,
    styles: StyleSpec | Sequence[StyleSpec],
    settings: Settings | None = None,
    *,
    mask: ImageSource | None = None,
    style_masks: Sequence[ImageSource] | None = None,
    init_image: ImageSource | None = None,
    weights_file: str | None = None,
    **overrides: Any,
) -> Iterator[Progress]:
    """Yield a :class:`Progress` after every optimisation step; the last one is the result.

    ``progress.image()`` gives the current image as a ``(1, 3, H, W)`` tensor in [0, 1].
    Breaking out of the loop cancels the run. The inputs are as for :func:`stylize`.
    """
    inputs = Inputs.of(
        content,
        styles,
        mask=mask,
        style_masks=style_masks,
        init_image=init_image,
        weights_file=weights_file,
    )
    return prepare(inputs, settings, **overrides).run()


def stylize(
    content: ImageSource,
    styles: StyleSpec | Sequence[StyleSpec],
    settings: Settings | None = None,
    **kwargs: Any,
) -> Image.Image:
    """Repaint ``content`` in the style of ``styles``; returns an RGB PIL image.

    ``styles``: one image, or a list of images or ``(image, blend weight)`` pairs. Images are
    paths, PIL images, ``(H, W[, C])`` arrays or ``(1, 3, H, W)`` tensors in [0, 1].
    Keywords: the inputs ``mask``, ``style_masks``, ``init_image``, ``weights_file``, and
    :class:`Settings` fields, e.g. ``size=256, seed=0``.
    """
    last: Progress | None = None
    for progress in iterate(content, styles, settings, **kwargs):
        last = progress
    assert last is not None  # steps >= 1 is validated
    return io.to_pil(last.image())


def _check_feature_size(image: torch.Tensor, s: Settings, what: str) -> None:
    deepest = s.deepest_layer
    short = min(image.shape[-2:])
    if short // downsampling(deepest) < 1:
        h, w = image.shape[-2:]
        need = downsampling(deepest)
        raise InputError(
            f"{what} is {w}x{h} px at this size: too thin for layer {deepest}, which needs "
            f"at least {need} px on each side; raise --size or --style-scale"
        )


def _check_extractor(extractor: VGGFeatures, s: Settings) -> None:
    missing = [n for n in s.content_layers + s.style_layers if n not in extractor.layers]
    if missing or extractor.pooling != s.pooling:
        raise ValueError(f"the extractor does not match the settings (layers {missing}, pooling)")


__all__ = ["Job", "iterate", "make_settings", "prepare", "stylize"]
