"""The seam statistic of bench/tiles.py: a border that is like its neighbouring rows scores
about 1, a step in colour or in stroke strength along it scores high."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from tiles import gradient_magnitude, seam_scores, seam_summary, tile_borders  # noqa: E402

SIDE, BORDER = 256, 128


def painted(seed: int = 0) -> torch.Tensor:
    """``(3, SIDE, SIDE)``: a smooth colour field with blurred noise on it, like strokes."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, SIDE), torch.linspace(0, 1, SIDE), indexing="ij")
    field = torch.stack([0.5 + 0.3 * torch.sin(3 * x + 2 * y), 0.4 + 0.2 * y, 0.6 - 0.2 * x])
    noise = F.avg_pool2d(torch.rand(1, 3, SIDE + 2, SIDE + 2, generator=g), 3, stride=1)[0]
    return (field + 0.3 * (noise - 0.5)).clamp(0, 1)


def test_a_border_like_any_other_row_scores_about_one():
    image = painted()
    scores = seam_scores(image, [BORDER], 0) + seam_scores(image, [BORDER], 1)
    assert all(0.7 < s < 1.4 for s in scores), scores
    grad = gradient_magnitude(image)
    assert all(
        0.7 < s < 1.4 for s in seam_scores(grad, [BORDER], 0) + seam_scores(grad, [BORDER], 1)
    )


def test_a_step_in_colour_at_the_border_stands_out():
    image = painted().clone()
    image[:, BORDER:] += 0.04  # a shift about as large as the texture's own row-to-row change
    (row,) = seam_scores(image, [BORDER], 0)
    (column,) = seam_scores(image, [BORDER], 1)
    assert row > 2.0 and 0.7 < column < 1.4, (row, column)
    (off_by_one,) = seam_scores(image, [BORDER + 3], 0)
    assert off_by_one < 1.4  # only the border itself stands out
    assert seam_scores(gradient_magnitude(image), [BORDER], 0)[0] > 2.0


def test_a_border_smoothed_over_scores_low():
    # Blended tiles: the row past the border repeats the one before it.
    image = painted().clone()
    image[:, BORDER] = image[:, BORDER - 1]
    (row,) = seam_scores(image, [BORDER], 0)
    assert row < 0.3, row


def test_the_summary_takes_the_worst_border_and_the_borders_of_the_plan():
    assert tile_borders(768, 1024, 256) == ([256, 512], [256, 512, 768])
    image = painted().clone()
    smooth = seam_summary(image.unsqueeze(0), 64)
    image[:, :, 192:] += 0.08
    seamed = seam_summary(image.unsqueeze(0), 64)
    low, high = smooth["pixels"]
    assert 0.7 < low <= high < 1.4
    assert seamed["pixels"][1] > 2.0 and seamed["pixels"][0] == low
    assert seamed["pixels_all"][1] < 1.6  # one column among 480 lines moves no percentile


def test_a_border_outside_the_image_is_refused():
    with pytest.raises(ValueError, match="not inside"):
        seam_scores(painted(), [SIDE], 0)
