"""Control over where and how the style lands: colour preservation and masks.

Both rewrite one scale's inputs before the loop sees them (Gatys et al. 2017, "Controlling
Perceptual Factors in Neural Style Transfer"), and may return a ``finish`` function that turns
the optimised image into the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from painterly.errors import InputError
from painterly.image import (
    blur,
    gray,
    luminance,
    match_colour_statistics,
    match_luminance,
    palette,
    recolour,
    resize,
    with_content_colour,
)
from painterly.objective import Region

Finish = Callable[[torch.Tensor], torch.Tensor] | None
Styles = tuple[tuple[torch.Tensor, float], ...]
EDGE_BLUR = 0.01  # feathering of mask edges, as a fraction of the long side


StyleList = list[tuple[torch.Tensor, float]]
Rewritten = tuple[torch.Tensor, StyleList, Finish]


@dataclass(frozen=True)
class ColourMode:
    """A ``--preserve-color`` mode: ``rewrite(content, styles)`` gives one scale's images to
    optimise with and the function that turns the optimised image into the result;
    ``start(image)`` puts a start image (``--init PATH``) in the space it optimises in."""

    rewrite: Callable[[torch.Tensor, StyleList], Rewritten]
    start: Callable[[torch.Tensor], torch.Tensor]


def _keep(content: torch.Tensor, styles: StyleList) -> Rewritten:
    return content, styles, None


def _histogram(content: torch.Tensor, styles: StyleList) -> Rewritten:
    """Recolour the paintings with the photo's palette."""
    return content, [(match_colour_statistics(st, content), w) for st, w in styles], None


def _luminance(content: torch.Tensor, styles: StyleList) -> Rewritten:
    """Transfer on brightness alone, then put the photo's colours back."""
    styles = [(gray(match_luminance(st, content)), w) for st, w in styles]
    colour = content

    def finish(image: torch.Tensor) -> torch.Tensor:
        return with_content_colour(image, colour.to(image.device))

    return gray(luminance(content)), styles, finish


def painting_colours(content: torch.Tensor, styles: StyleList) -> torch.Tensor:
    """The photo recoloured with the painting's :func:`palette`."""
    return recolour(content, *palette(styles))


def _painting(content: torch.Tensor, styles: StyleList) -> Rewritten:
    """Recolour the photo with the painting's palette (:func:`painting_colours`): the
    content loss then keeps the photo's structure, not its colours."""
    return painting_colours(content, styles), styles, None


def _same(image: torch.Tensor) -> torch.Tensor:
    return image


COLOR_MODES: dict[str, ColourMode] = {
    "none": ColourMode(_keep, _same),
    "luminance": ColourMode(_luminance, lambda image: gray(luminance(image))),
    "histogram": ColourMode(_histogram, _same),
    "painting": ColourMode(_painting, _same),
}


def colour_mode(name: str) -> ColourMode:
    """The registered colour mode ``name``; an unknown name is an InputError."""
    try:
        return COLOR_MODES[name]
    except KeyError:
        raise InputError(
            f"preserve_color={name!r}: expected one of {', '.join(COLOR_MODES)}"
        ) from None


@dataclass(frozen=True)
class Masks:
    """The masks of a run, ``(1, 1, H, W)`` in [0, 1] at their own size; ``at`` resizes."""

    area: torch.Tensor | None = None
    per_style: tuple[torch.Tensor, ...] | None = None

    def at(self, size: tuple[int, int]) -> Masks:
        def fit(mask: torch.Tensor) -> torch.Tensor:
            return resize(mask.expand(-1, 3, -1, -1), tuple(size))[:, :1]

        return Masks(
            fit(self.area) if self.area is not None else None,
            tuple(fit(m) for m in self.per_style) if self.per_style is not None else None,
        )


def regions(
    masks: Masks, styles: Styles, photo: torch.Tensor, finish: Finish
) -> tuple[tuple[Region, ...] | None, Finish]:
    """The regions of one scale and the finish that blends the unstyled part back softly.

    ``--mask`` confines the (blended) style to the white part; ``--style-mask`` gives each
    style its own part (within ``--mask`` when both are given). What no mask covers keeps
    the photo's own texture (its own guided statistics) and, at the end, the photo itself,
    with a feathered edge so there is no seam.
    """
    if masks.area is None and masks.per_style is None:
        return None, finish
    device = styles[0][0].device
    area = masks.area.to(device) if masks.area is not None else None
    if masks.per_style is not None:
        parts = [m.to(device) * (area if area is not None else 1.0) for m in masks.per_style]
        painted = [Region(m, (style,)) for m, style in zip(parts, styles, strict=True)]
        covered = torch.stack(parts).sum(0).clamp(0, 1)
    else:
        assert area is not None
        painted, covered = [Region(area, styles)], area
    keep = Region(1 - covered, None)
    return (*painted, keep), _blend_back(covered, photo.to(device), finish)


def _blend_back(covered: torch.Tensor, photo: torch.Tensor, finish: Finish) -> Finish:
    soft = blur(covered, EDGE_BLUR * max(covered.shape[-2:]))

    def composite(image: torch.Tensor) -> torch.Tensor:
        shown = finish(image) if finish is not None else image
        return soft.to(shown) * shown + (1 - soft.to(shown)) * photo.to(shown)

    return composite
