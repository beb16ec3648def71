"""Optical flow on synthetic shifts of known flow: DIS finds them, warping undoes them, the
consistency check marks what does not come back, and the warping error tells them apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("cv2", reason="painterly[video]")

from painterly import flow  # noqa: E402


def texture(h: int = 120, w: int = 160, seed: int = 0) -> torch.Tensor:
    """A smooth random texture (blurred noise), (1, 3, h, w) in [0, 1]."""
    noise = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
    smooth = F.avg_pool2d(F.pad(noise, (3, 3, 3, 3), mode="reflect"), 7, stride=1)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def shifted_pair(dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames a and b with a(p) = b(p + (dx, dy)) exactly."""
    big = texture()
    a = big[..., 20:100, 20:140]
    b = big[..., 20 - dy : 100 - dy, 20 - dx : 140 - dx]
    return a, b


def test_warp_by_a_whole_pixel_shift_is_exact():
    image = torch.rand(1, 3, 20, 30)
    shift = np.zeros((20, 30, 2), np.float32)
    shift[..., 0] = 2
    warped = flow.warp(image, shift)
    assert torch.allclose(warped[..., :-2], image[..., 2:], atol=1e-6)
    assert torch.allclose(warped[..., -1], image[..., -1], atol=1e-6)  # the edge repeats
    assert torch.allclose(flow.warp(image, np.zeros_like(shift)), image, atol=1e-6)


@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-5, 0), (0, 4)])
def test_dis_finds_a_known_shift_and_warping_undoes_it(dx, dy):
    a, b = shifted_pair(dx, dy)
    estimate = flow.Flow("medium")(flow.gray(a), flow.gray(b))
    inner = estimate[10:-10, 10:-10]
    assert np.median(np.abs(inner[..., 0] - dx)) < 0.25
    assert np.median(np.abs(inner[..., 1] - dy)) < 0.25
    back = flow.warp(b, estimate)
    assert (back - a)[..., 10:-10, 10:-10].abs().mean() < 0.01


@pytest.mark.parametrize(("dx", "dy"), [(4, -2), (-6, 0)])
def test_a_flow_found_on_shrunk_frames_and_enlarged_finds_the_shift(dx, dy):
    """The video's cheaper flow: DIS at half size, the field enlarged and its vectors doubled."""
    a, b = shifted_pair(dx, dy)
    ga, gb = flow.gray(a), flow.gray(b)
    small = flow.Flow("medium")(flow.shrink(ga, 0.5), flow.shrink(gb, 0.5))
    assert small.shape == (40, 60, 2)
    estimate = flow.enlarge(small, *ga.shape, is_flow=True)
    assert estimate.shape == (*ga.shape, 2)
    inner = estimate[10:-10, 10:-10]
    assert np.median(np.abs(inner[..., 0] - dx)) < 0.5
    assert np.median(np.abs(inner[..., 1] - dy)) < 0.5
    mask = flow.enlarge(np.ones((40, 60), np.float32), *ga.shape, is_flow=False)
    assert mask.shape == ga.shape and mask.min() == mask.max() == 1.0
    assert flow.shrink(ga, 1.0) is ga and flow.enlarge(estimate, *ga.shape, True) is estimate


def test_consistent_flows_are_trusted_and_broken_ones_are_not():
    h, w = 40, 50
    forward = np.zeros((h, w, 2), np.float32)
    forward[..., 0] = 3
    backward = -forward
    assert flow.reliable(forward, backward).min() == 1.0
    broken = backward.copy()
    broken[10:20, 20:40] = 0  # there, b's pixels do not point back: occluded in b
    mask = flow.reliable(forward, broken)
    assert mask[12:18, 20:34].max() == 0.0  # a's pixels that land in the broken patch
    assert mask[30:, :].min() == 1.0


def test_a_motion_boundary_is_not_trusted():
    forward = np.zeros((30, 40, 2), np.float32)
    forward[:, 20:, 0] = 6  # the right half moves, the left half stands still
    mask = flow.reliable(forward, -forward)
    assert mask[:, 19:21].max() == 0.0 and mask[:, :15].min() == 1.0


def test_warping_error_separates_a_steady_pair_from_a_flickering_one():
    a, b = shifted_pair(2, 1)
    f = flow.Flow("medium")(flow.gray(a), flow.gray(b))
    mask = flow.reliable(f, flow.Flow("medium")(flow.gray(b), flow.gray(a)))
    assert mask.mean() > 0.8
    steady = flow.warping_error(a, b, f, mask)
    flicker = flow.warping_error(a, (b + 0.1 * torch.randn_like(b)).clamp(0, 1), f, mask)
    assert steady < 3e-4 and flicker > 20 * steady
    assert flow.warping_error(a, a, np.zeros_like(f), np.ones_like(mask)) < 1e-12


def test_bad_presets_and_sizes_are_refused():
    with pytest.raises(Exception, match="flow preset"):
        flow.Flow("slow")
    with pytest.raises(ValueError, match="different sizes"):
        flow.Flow()(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))


def test_clip_warping_error_is_zero_for_a_still_clip_and_grows_with_flicker():
    a, b = shifted_pair(1, 0)
    assert flow.clip_warping_error([a, a, a], [a, a, a]) < 1e-12
    noisy = [(x + 0.1 * torch.randn_like(x)).clamp(0, 1) for x in (a, b)]
    assert flow.clip_warping_error([a, b], noisy) > 20 * flow.clip_warping_error([a, b], [a, b])
