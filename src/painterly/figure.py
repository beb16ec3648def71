"""The explain figure: the photo and the painting beside their reconstructions, laid out like
Figure 1 of Gatys et al. (2015), drawn with matplotlib (the ``[plot]`` extra, imported only
when a figure is drawn; Agg, no pyplot, no global state). Returns an image tensor; io.py
writes it, like any other picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from painterly.curves import require
from painterly.explain import PANELS, Panel, PanelSpec

DPI = 100  # one point of layout below is one pixel of the picture
MIN_CELL = 192  # small images are enlarged (whole pixels, no smoothing) to at least this
MARGIN, GAP, INPUT_GAP = 16, 10, 30  # pixels: around, between panels, after the inputs
TITLE, HEADER, LABEL = 64, 28, 46  # pixels: the title band, a row's heading, a panel's label
ROWS = (  # kind, the input's name, the row's heading
    ("content", "photo", "Content reconstructions: the photo's feature maps at one layer"),
    ("style", "painting", "Style reconstructions: the painting's Gram matrices on 1 to 5 layers"),
)


def require_matplotlib() -> None:
    """An InputError naming the extra to install if matplotlib is absent (checked first)."""
    require("painterly explain")


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of the figure for panels of ``height x width`` shown ``zoom`` times."""

    height: int
    width: int

    @property
    def zoom(self) -> int:
        return max(1, math.ceil(MIN_CELL / max(self.height, self.width)))

    @property
    def cell(self) -> tuple[int, int]:
        return self.height * self.zoom, self.width * self.zoom

    @property
    def columns(self) -> int:
        return len(PANELS) // len(ROWS)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the whole figure in pixels."""
        ch, cw = self.cell
        width = 2 * MARGIN + INPUT_GAP + (self.columns + 1) * cw + (self.columns - 1) * GAP
        height = TITLE + len(ROWS) * (HEADER + ch + LABEL) + MARGIN
        return height, width

    def box(self, row: int, column: int) -> tuple[float, float, float, float]:
        """Figure-fraction rectangle of a cell; column 0 holds the input."""
        ch, cw = self.cell
        fh, fw = self.size
        left = MARGIN + (0 if column == 0 else cw + INPUT_GAP + (column - 1) * (cw + GAP))
        top = TITLE + row * (HEADER + ch + LABEL) + HEADER
        return left / fw, 1 - (top + ch) / fh, cw / fw, ch / fh


def render(
    panels: Sequence[Panel], content: torch.Tensor, style: torch.Tensor, title: str | None = None
) -> torch.Tensor:
    """The figure as a ``(1, 3, H, W)`` image in [0, 1] (H, W: :attr:`Layout.size` for the
    panels' size). ``panels`` may be fewer than :data:`PANELS` (an interrupted run): the
    missing cells say so."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = Layout(*content.shape[-2:])
    height, width = layout.size
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    fig.text(
        0.5,
        1 - 24 / height,
        title or "What VGG19 sees (after Gatys, Ecker & Bethge 2015, Figure 1)",
        ha="center",
        va="center",
        fontsize=15,
        weight="bold",
    )
    fig.text(
        0.5,
        1 - 46 / height,
        "each panel: white noise optimised until its features match the input's at the "
        "named layers; d: the relative distance left",
        ha="center",
        va="center",
        fontsize=9.5,
        color="0.35",
    )
    done = {panel.spec: panel for panel in panels}
    for row, (kind, name, heading) in enumerate(ROWS):
        specs = [spec for spec in PANELS if spec.kind == kind]
        x, y, _, h = layout.box(row, 1)
        fig.text(x, y + h + 6 / height, heading, fontsize=10.5, weight="bold", va="bottom")
        _cell(fig, layout, row, 0, content if kind == "content" else style, name, fit=True)
        for column, spec in enumerate(specs, start=1):
            panel = done.get(spec)
            image = panel.image if panel is not None else None
            label = _label(spec) + (f"\nd = {panel.distance:.3g}" if panel else "\nnot computed")
            _cell(fig, layout, row, column, image, label)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())[:, :, :3]
    return torch.from_numpy(rgba.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def _label(spec: PanelSpec) -> str:
    return spec.layers[0] if len(spec.layers) == 1 else f"{spec.layers[0]} \u2026 {spec.layers[-1]}"


def _cell(
    fig: Any,
    layout: Layout,
    row: int,
    column: int,
    image: torch.Tensor | None,
    label: str,
    fit: bool = False,
) -> None:
    """One image in its cell, its label below; ``fit``: keep its own aspect ratio inside."""
    ax = fig.add_axes(layout.box(row, column))
    ax.set_axis_off()
    if image is not None:
        pixels = image[0].clamp(0, 1).permute(1, 2, 0).numpy()
        ax.imshow(pixels, interpolation="antialiased" if fit else "nearest", aspect="equal")
    ax.text(
        0.5,
        -6 / layout.cell[0],
        label,
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=9,
        linespacing=1.3,
    )
