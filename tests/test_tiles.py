"""Tiled evaluation: the same loss and gradient as the untiled objective, tile by tile."""

from __future__ import annotations

import pytest
import torch

from painterly import tiles
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


def test_tiled_grams_equal_the_whole_images(extractor):
    s = Settings()
    features = feature_pass(extractor)
    image = rand_image(150, 131, seed=3)
    whole = extractor(image)
    tiled = tiles.grams(features, image, s.style_layers, 48)
    from painterly import losses

    for name in s.style_layers:
        expect = losses.gram(whole[name])
        assert torch.allclose(tiled[name], expect, rtol=1e-4, atol=1e-3 * float(expect.abs().max()))


@pytest.fixture(scope="module")
def pair(extractor):
    s = Settings(style_weight=10.0, tv_weight=1.0)
    features = feature_pass(extractor)
    style = rand_image(96, 96, seed=1)
    targets = style_targets(features, [(style, 1.0)], s)
    return s, Objective(extractor, targets, s)


def test_tiled_loss_and_gradient_equal_the_untiled_ones(pair):
    s, objective = pair
    content = rand_image(160, 144, seed=2)
    image = (content + 0.1 * rand_image(160, 144, seed=4)).clamp(0, 1)

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
    _, objective = pair
    content = rand_image(160, 144, seed=2)
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
    s, objective = pair
    with_term = Objective(
        extractor, objective.style, s, terms={"t": Term(1.0, lambda x, f: x.mean())}
    )
    with pytest.raises(InputError, match="extra loss terms"):
        TiledObjective(with_term, 64)
    features = feature_pass(extractor)
    style = rand_image(64, 64, seed=1)
    mask = torch.ones(1, 1, 64, 64)
    masked = style_targets(features, [(style, 1.0)], s, [Region(mask, ((style, 1.0),))])
    with pytest.raises(InputError, match="without masks"):
        TiledObjective(Objective(extractor, masked, s), 64)
    meancov = s.replace(style_stats="meancov")
    stats = style_targets(features, [(style, 1.0)], meancov)
    with pytest.raises(InputError, match="gram"):
        TiledObjective(Objective(extractor, stats, meancov), 64)


def test_a_tiled_run_follows_the_untiled_one_step_by_step(extractor, images):
    from painterly import api
    from painterly.inputs import Inputs

    runs = {}
    for tile in (0, 64):
        s = Settings(size=112, start_size=112, steps=4, seed=0, tile=tile, precision="fp32")
        job = api.prepare(
            Inputs.of(images["tubingen"], [(images["starry_night"], 1.0)]), s, extractor=extractor
        )
        assert job.record["tiles"] == [None if tile == 0 else 64]
        runs[tile] = [p.losses["total"] for p in job.run()]
    assert runs[64] == pytest.approx(runs[0], rel=1e-4)


def test_tiles_with_masks_are_refused_before_any_work(extractor, images):
    from painterly import api
    from painterly.inputs import Inputs

    s = Settings(size=112, start_size=112, steps=1, seed=0, tile=64)
    inputs = Inputs.of(
        images["tubingen"],
        [(images["starry_night"], 1.0), (images["the_scream"], 1.0)],
        style_masks=(images["tubingen"], images["tubingen"]),
    )
    with pytest.raises(InputError, match="in tiles of 64 px, which take the gram statistic"):
        api.prepare(inputs, s, extractor=extractor)
