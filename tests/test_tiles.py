"""Tiled evaluation: the same loss and gradient as the untiled objective, tile by tile."""

from __future__ import annotations

import copy

import pytest
import torch

from painterly import losses, tiles
from painterly.errors import InputError
from painterly.objective import (
    Objective,
    Region,
    Term,
    TiledObjective,
    feature_pass,
    style_targets,
)
from painterly.settings import Settings

from .conftest import rand_image


def test_the_halo_covers_the_receptive_field_of_the_deepest_layer():
    # 3x3 convolutions and 2x2 poolings: relu5_1 sees 156 px, relu1_1 3 px.
    assert tiles.receptive_radius("relu1_1") == 1
    assert tiles.receptive_radius("relu5_1") == 78
    assert tiles.halo("relu5_1") == 80
    assert tiles.halo("relu1_1") == 16


def test_the_cores_cover_the_image_once_and_start_on_the_pooling_grid():
    plan = tiles.plan(150, 100, 48, 32)
    covered = torch.zeros(150, 100, dtype=torch.int32)
    for t in plan:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
        assert t.cy0 % 16 == 0 and t.cx0 % 16 == 0
        assert t.cy0 <= t.y0 and t.cy1 >= t.y1 and t.cx1 <= 100 and t.cy1 <= 150
    assert bool((covered == 1).all())
    with pytest.raises(ValueError, match="multiples of 16"):
        tiles.plan(150, 100, 40, 32)


def test_tiled_moments_equal_the_whole_images_in_bf16_too(extractor):
    # Each tile centred on its own mean and merged: no cancellation, even in bfloat16.
    layers = ("relu1_1", "relu3_1", "relu5_1")
    image = rand_image(150, 131, seed=3)
    whole = extractor(image)
    for autocast in (None, torch.bfloat16):
        gathered = tiles.moments(feature_pass(extractor, autocast), image, layers, 48)
        for name in layers:
            mean, cov = losses.mean_cov(whole[name].double())
            m = gathered[name]
            assert m.count == whole[name].shape[-2] * whole[name].shape[-1]
            tolerance = 1e-9 if autocast is None else 1e-4  # bf16: its features' own rounding
            assert float(losses.relative_error(m.mean.unsqueeze(0).double(), mean)) < tolerance
            assert float(losses.relative_error(m.cov.unsqueeze(0).double(), cov)) < tolerance


@pytest.mark.parametrize("stats", ["gram", "meancov"])
def test_tiled_style_targets_equal_the_whole_paintings(extractor, stats):
    s = Settings(style_stats=stats)
    features = feature_pass(extractor)
    style = rand_image(150, 131, seed=5)
    whole = style_targets(features, [(style, 1.0)], s).layer_targets
    tiled = style_targets(features, [(style, 1.0)], s, tile=48).layer_targets
    for name in s.style_layers:
        parts = [whole[name]] if stats == "gram" else list(whole[name])
        tiled_parts = [tiled[name]] if stats == "gram" else list(tiled[name])
        for expect, got in zip(parts, tiled_parts, strict=True):
            assert got.shape == expect.shape
            assert float(losses.relative_error(got, expect)) < 1e-6, name  # float32 sums


@pytest.fixture(scope="module", params=["gram", "meancov"])
def pair(extractor, request):
    s = Settings(style_weight=10.0, tv_weight=1.0, style_stats=request.param)
    dtype = torch.float64 if request.param == "meancov" else torch.float32
    if request.param == "meancov":
        # On these small pictures the deep layers have fewer positions than channels, so
        # their covariances are singular and W2's gradient (1 / sqrt of each eigenvalue)
        # magnifies float32 rounding: compare the two evaluations in float64.
        extractor = copy.deepcopy(extractor).double()
    features = feature_pass(extractor)
    style = rand_image(96, 96, seed=1)
    targets = style_targets(features, [(style, 1.0)], s)
    return s, Objective(extractor, targets, s), dtype


def test_tiled_loss_and_gradient_equal_the_untiled_ones(pair):
    s, objective, dtype = pair
    content = rand_image(160, 144, seed=2).to(dtype)
    image = (content + 0.1 * rand_image(160, 144, seed=4).to(dtype)).clamp(0, 1)

    def evaluate(obj):
        x = image.clone().requires_grad_(True)
        loss, values = obj(x, obj.content_targets(content))
        loss.backward()
        return values, x.grad

    values, grad = evaluate(objective)
    tiled_values, tiled_grad = evaluate(TiledObjective(objective, 48))
    for key in ("content", "style", "tv", "total"):
        assert tiled_values[key] == pytest.approx(values[key], rel=1e-4), key
    # Exact up to float32 rounding everywhere, halos included: no seams to hide.
    scale = float(grad.abs().max())
    assert float((tiled_grad - grad).abs().max()) < 1e-4 * scale
    assert torch.nn.functional.cosine_similarity(tiled_grad.flatten(), grad.flatten(), 0) > 0.99999


def test_a_halo_too_narrow_would_show_so_the_test_can_fail(pair):
    _, objective, dtype = pair
    content = rand_image(160, 144, seed=2).to(dtype)
    image = content.clone().requires_grad_(True)
    loss, _ = objective(image, objective.content_targets(content))
    loss.backward()
    narrow = TiledObjective(objective, 48)
    narrow.halo = 16
    x = content.clone().requires_grad_(True)
    loss, _ = narrow(x, narrow.content_targets(content))
    loss.backward()
    assert float((x.grad - image.grad).abs().max()) > 1e-2 * float(image.grad.abs().max())


def test_what_tiling_cannot_take_is_refused(extractor, pair):
    s, objective, _ = pair
    with_term = Objective(
        extractor, objective.style, s, terms={"t": Term(1.0, lambda x, f: x.mean())}
    )
    with pytest.raises(InputError, match="extra loss terms"):
        TiledObjective(with_term, 64)
    features = feature_pass(extractor)
    style = rand_image(64, 64, seed=1)
    mask = torch.ones(1, 1, 64, 64)
    masked = style_targets(features, [(style, 1.0)], s, [Region(mask, ((style, 1.0),))])
    with pytest.raises(InputError, match="no masks"):
        TiledObjective(Objective(extractor, masked, s), 64)


def test_a_tiled_run_follows_the_untiled_one_step_by_step(extractor, images):
    from painterly import api
    from painterly.inputs import Inputs

    runs = {}
    for tile in (0, 64):
        # Gram matrices: on a picture this small the deep layers' covariances are singular,
        # and meancov's gradient magnifies float32 rounding step after step (its tiled
        # gradient is checked in float64 above).
        s = Settings(
            size=112,
            start_size=112,
            steps=4,
            seed=0,
            tile=tile,
            precision="fp32",
            style_stats="gram",
        )
        job = api.prepare(
            Inputs.of(images["tubingen"], [(images["starry_night"], 1.0)]), s, extractor=extractor
        )
        assert job.record["tiles"] == [None if tile == 0 else 64]
        runs[tile] = [p.losses["total"] for p in job.run()]
    assert runs[64] == pytest.approx(runs[0], rel=1e-4)


def test_the_defaults_run_in_tiles(extractor, images):
    # meancov and the painting's colours (the defaults) at a tiled scale: accepted, and the
    # loss falls as it does untiled (step for step only up to meancov's float32 sensitivity
    # on so small a picture, above).
    from painterly import api
    from painterly.inputs import Inputs

    runs = {}
    for tile in (0, 64):
        s = Settings(size=112, start_size=112, steps=4, seed=0, tile=tile, precision="fp32")
        assert s.style_stats == "meancov"
        job = api.prepare(
            Inputs.of(images["tubingen"], [(images["starry_night"], 1.0)]), s, extractor=extractor
        )
        runs[tile] = [p.losses["total"] for p in job.run()]
    assert runs[64][-1] < runs[64][0] and runs[0][-1] < runs[0][0]
    assert runs[64][0] == pytest.approx(runs[0][0], rel=1e-4)  # the same start, the same loss
    assert runs[64][-1] == pytest.approx(runs[0][-1], rel=0.1)


def test_tiles_with_masks_are_refused_before_any_work(extractor, images):
    from painterly import api
    from painterly.inputs import Inputs

    s = Settings(size=112, start_size=112, steps=1, seed=0, tile=64)
    inputs = Inputs.of(
        images["tubingen"],
        [(images["starry_night"], 1.0), (images["the_scream"], 1.0)],
        style_masks=(images["tubingen"], images["tubingen"]),
    )
    with pytest.raises(InputError, match="in tiles of 64 px, which take no masks"):
        api.prepare(inputs, s, extractor=extractor)
