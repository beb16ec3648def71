"""The loss curves: a History of every step, its JSON columns, and the PNG it is drawn as."""

import io as stdio
import math
import sys
from types import SimpleNamespace

import pytest
from PIL import Image

from painterly import curves
from painterly.curves import History
from painterly.errors import InputError


def _history(steps_per_scale=(3, 4), sizes=((24, 32), (36, 48))):
    history, step = History(), 0
    for scale, (count, size) in enumerate(zip(steps_per_scale, sizes, strict=True)):
        for _ in range(count):
            step += 1
            losses = {"content": 0.0 if step == 1 else 0.1 / step, "style": 1 / step, "tv": 1e-3}
            losses["total"] = sum(losses.values())
            history.add(SimpleNamespace(step=step, scale=scale, size=size, losses=losses))
    return history


def test_one_point_per_step_and_where_each_scale_began():
    history = _history()
    assert len(history) == 7 and [p.step for p in history.points] == list(range(1, 8))
    assert history.terms == ["total", "content", "style", "tv"]  # total first, as drawn
    assert history.scales == [(0, 1, (24, 32)), (1, 4, (36, 48))]
    assert history.points[4].losses["style"] == pytest.approx(1 / 5)


def test_json_columns_round_trip_and_round():
    history = _history()
    data = history.to_dict()
    assert data["steps"] == list(range(1, 8)) and len(data["losses"]["tv"]) == 7
    assert data["scales"] == [
        {"scale": 0, "step": 1, "size": [24, 32]},
        {"scale": 1, "step": 4, "size": [36, 48]},
    ]
    assert History.from_dict(data) == history
    assert History.from_dict(None) == History()
    assert history.to_dict(digits=3)["losses"]["style"][2] == 0.333


def test_the_plot_is_a_png_of_the_figure_size(tmp_path):
    out = curves.save(_history(), tmp_path / "curves.png", title="a × b")
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size == (curves.FIGSIZE[0] * curves.DPI, curves.FIGSIZE[1] * curves.DPI)
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 200  # dark lines and text on white, not a blank page
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary left


def test_zero_and_missing_values_are_gaps_not_errors():
    history = _history(steps_per_scale=(1,), sizes=((24, 32),))
    history.add(SimpleNamespace(step=2, scale=0, size=(24, 32), losses={"total": math.inf}))
    fh = stdio.BytesIO()
    curves.draw(history, fh)
    assert fh.getvalue().startswith(b"\x89PNG")
    assert history.to_dict()["losses"]["style"] == [1.0, None]


def test_without_matplotlib_require_says_which_extra(monkeypatch):
    curves.require()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    expected = r"^--plot needs matplotlib: pip install 'painterly\[plot\]'$"
    with pytest.raises(InputError, match=expected):
        curves.require()
