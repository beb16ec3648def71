"""A run's loss curves: every step's losses and the coarse-to-fine scale it was at (a
:class:`History`, kept by the driver), and their plot as a PNG (``painterly[plot]``).

Standard library only at import: the CLI calls :func:`require` before torch loads, and
matplotlib is imported only to draw, on a figure of its own with the Agg canvas (no display,
no pyplot, nothing global changed).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from painterly.errors import InputError

TERMS = ("total", "content", "style", "tv")  # the built-in terms, in the order shown
FIGSIZE = (8.0, 4.5)  # inches; at DPI, an 800 x 450 px picture
DPI = 100
COLOURS = {"total": "#1f2328", "content": "#2f6fbf", "style": "#c8553d", "tv": "#3b8f6b"}


@dataclass(frozen=True)
class Point:
    """One step: its number (counted over all scales), the scale it ran at (0: coarsest),
    that scale's ``(height, width)`` and the weighted loss terms (``total`` among them)."""

    step: int
    scale: int
    size: tuple[int, int]
    losses: dict[str, float]


@dataclass
class History:
    """The losses of a run, one :class:`Point` per completed step, in order."""

    points: list[Point] = field(default_factory=list)

    def add(self, progress: Any) -> None:
        """Record a :class:`~painterly.optimize.Progress` (or anything with its fields)."""
        losses = {k: float(v) for k, v in progress.losses.items()}
        size = (int(progress.size[0]), int(progress.size[1]))
        self.points.append(Point(int(progress.step), int(progress.scale), size, losses))

    def __len__(self) -> int:
        return len(self.points)

    @property
    def terms(self) -> list[str]:
        """The loss terms recorded: the built-in ones in :data:`TERMS` order, then others."""
        seen = dict.fromkeys(k for p in self.points for k in p.losses)
        return [t for t in TERMS if t in seen] + [t for t in seen if t not in TERMS]

    @property
    def scales(self) -> list[tuple[int, int, tuple[int, int]]]:
        """``(scale, first step, (height, width))`` for each scale the steps ran at."""
        out: list[tuple[int, int, tuple[int, int]]] = []
        for p in self.points:
            if not out or out[-1][0] != p.scale:
                out.append((p.scale, p.step, p.size))
        return out

    def to_dict(self, digits: int | None = None) -> dict[str, Any]:
        """Plain JSON-ready columns: ``{"steps": [...], "losses": {term: [...]}, "scales":
        [{"scale", "step", "size": [h, w]}]}``; a term missing at a step is None.
        ``digits``: round every loss to that many significant digits (smaller JSON)."""

        def value(v: float | None) -> float | None:
            if v is None or digits is None or not math.isfinite(v):
                return v
            return float(f"{v:.{digits}g}")

        return {
            "steps": [p.step for p in self.points],
            "losses": {t: [value(p.losses.get(t)) for p in self.points] for t in self.terms},
            "scales": [
                {"scale": s, "step": first, "size": list(size)} for s, first, size in self.scales
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> History:
        """The History :meth:`to_dict` gave (e.g. read back from a checkpoint); None: empty."""
        if not data:
            return cls()
        starts = sorted((int(s["step"]), int(s["scale"]), tuple(s["size"])) for s in data["scales"])
        points = []
        for i, step in enumerate(data["steps"]):
            _, scale, size = max((s for s in starts if s[0] <= step), default=starts[0])
            losses = {t: float(v[i]) for t, v in data["losses"].items() if v[i] is not None}
            points.append(Point(int(step), scale, (int(size[0]), int(size[1])), losses))
        return cls(points)


def require(flag: str = "--plot") -> None:
    """An InputError (one line, exit code 2 on the command line) if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(f"{flag} needs matplotlib: pip install 'painterly[plot]'") from None


def save(history: History, path: str | os.PathLike, title: str | None = None) -> Path:
    """Plot ``history`` to the PNG ``path``, atomically (a temporary file, then a rename)."""
    from painterly import io

    out = Path(path)
    io.write_atomic(out, lambda fh: draw(history, fh, title), shared=True)
    return out


def draw(history: History, fh: BinaryIO, title: str | None = None) -> None:
    """The curves as a PNG into ``fh``: one line per loss term against the step, log y; each
    scale a band (alternately shaded, dashed line where it begins) labelled with its size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = [p.step for p in history.points]
    lows = []
    for term in history.terms:
        values = [_positive(p.losses.get(term)) for p in history.points]
        shown = sorted(v for v in values if not math.isnan(v))
        if shown:  # a term's typical level, not a brief dip (content is 0 at the start)
            lows.append(max(shown[0], shown[len(shown) // 2] / 30))
        total = term == "total"
        ax.plot(
            steps,
            values,
            label=term,
            color=COLOURS.get(term),
            linewidth=2.2 if total else 1.5,
            zorder=3 if total else 2,
        )
    ax.set_yscale("log")
    if lows:
        ax.set_ylim(bottom=min(lows) / 1.5)
    if steps:
        ax.set_xlim(steps[0] - 0.5, steps[-1] + 0.5)
        _mark_scales(ax, history, steps[-1] + 1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (weighted, log scale)")
    ax.grid(True, which="major", axis="both", color="#000000", alpha=0.08)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="term")
    if title:
        ax.set_title(title, loc="left", fontsize=11)
    fig.savefig(fh, format="png")


def _mark_scales(ax: Any, history: History, end: int) -> None:
    from matplotlib.transforms import blended_transform_factory

    on_top = blended_transform_factory(ax.transData, ax.transAxes)  # x: step, y: 0..1
    scales = history.scales
    for i, (_, first, (h, w)) in enumerate(scales):
        last = scales[i + 1][1] if i + 1 < len(scales) else end
        if i % 2:
            ax.axvspan(first - 0.5, last - 0.5, color="#000000", alpha=0.045, linewidth=0)
        if i:
            ax.axvline(first - 0.5, color="#6b6f76", linewidth=0.9, linestyle="--", zorder=1)
        ax.text(
            (first + last - 1) / 2,
            0.985,
            f"{w}×{h} px",
            transform=on_top,
            ha="center",
            va="top",
            fontsize=9,
            color="#4a4e55",
        )


def _positive(value: float | None) -> float:
    """A value a log axis can show; nan (a gap in the line) for 0, negatives and gaps."""
    return value if value is not None and value > 0 and math.isfinite(value) else math.nan


__all__ = ["DPI", "FIGSIZE", "TERMS", "History", "Point", "draw", "require", "save"]
