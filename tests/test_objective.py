"""The objective: style targets as a value shared across photos, content targets per photo,
batches, extra terms by name, and regions that keep the photo's own texture."""

import pytest
import torch

from painterly import losses
from painterly.objective import (
    Objective,
    Region,
    Term,
    feature_pass,
    style_targets,
)
from painterly.settings import Settings

from .conftest import rand_image


@pytest.fixture(scope="module")
def pictures():
    return {name: rand_image(48, 64, seed) for seed, name in enumerate(("a", "b", "style", "x"))}


def test_style_targets_are_the_style_statistics_computed_without_gradients(extractor, pictures):
    s = Settings(style_stats="gram")
    style = pictures["style"]
    targets = style_targets(feature_pass(extractor), [(style, 1.0)], s)
    assert targets.statistic == "gram" and targets.layers == s.style_layers
    (region,) = targets.regions
    assert region.share == 1.0 and all(w is None for w in region.weights.values())
    feats = extractor(style)
    for name in s.style_layers:
        target = targets.layer_targets[name]
        assert target.grad_fn is None and not target.requires_grad
        assert torch.allclose(target, losses.gram(feats[name]), rtol=1e-5)


def test_one_set_of_style_targets_serves_any_photo_and_batches(extractor, pictures):
    s = Settings()
    objective = Objective(
        extractor, style_targets(feature_pass(extractor), [(pictures["style"], 1.0)], s), s
    )
    a, b, x = pictures["a"], pictures["b"], pictures["x"]
    alone_a = objective(x, objective.content_targets(a))
    alone_b = objective(a, objective.content_targets(b))
    assert alone_a[1]["style"] != alone_b[1]["style"]  # each image against the same targets
    both = objective(torch.cat([x, a]), objective.content_targets(torch.cat([a, b])))
    for term in ("content", "style", "tv", "total"):
        mean = (alone_a[1][term] + alone_b[1][term]) / 2
        assert both[1][term] == pytest.approx(mean, rel=1e-4), term
    assert objective(a, objective.content_targets(a))[1]["content"] == pytest.approx(0, abs=1e-6)


def test_an_extra_term_plugs_in_by_name_with_its_weight(extractor, pictures):
    s = Settings(style_weight=10.0)
    targets = style_targets(feature_pass(extractor), [(pictures["style"], 1.0)], s)
    plain = Objective(extractor, targets, s)
    away = pictures["b"]

    def temporal(images, features):
        return (images - away).pow(2).mean()

    extra = Objective(extractor, targets, s, terms={"temporal": Term(20.0, temporal)})
    content = plain.content_targets(pictures["a"])
    image = pictures["x"].clone().requires_grad_(True)
    total, values = extra(image, content)
    _, base = plain(image, content)
    # The largest weight is now the extra term's: every weight is divided by 20, not 10.
    assert values["style"] == pytest.approx(base["style"] / 2, rel=1e-5)
    assert values["temporal"] == pytest.approx(float(temporal(image.detach(), {})), rel=1e-5)
    parts = values["content"] + values["style"] + values["tv"] + values["temporal"]
    assert values["total"] == pytest.approx(parts, rel=1e-5)
    total.backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()
    with pytest.raises(ValueError, match="may not be named style"):
        Objective(extractor, targets, s, terms={"style": Term(1.0, temporal)})


def test_a_region_that_keeps_the_photo_compares_with_the_photos_own_statistics(extractor, pictures):
    s = Settings()
    left = torch.zeros(1, 1, 48, 64)
    left[..., :32] = 1
    regions = [Region(left, ((pictures["style"], 1.0),)), Region(1 - left, None)]
    targets = style_targets(feature_pass(extractor), [(pictures["style"], 1.0)], s, regions)
    painted, kept = targets.regions
    assert painted.targets is not None and kept.targets is None  # the photo's: per photo
    assert painted.share == pytest.approx(0.5) and kept.weights["relu3_1"].shape == (1, 1, 12, 16)
    objective = Objective(extractor, targets, s)
    content = objective.content_targets(pictures["a"])
    assert content.own[0] is None and set(content.own[1]) == set(s.style_layers)
    # The photo itself matches its own statistics: only the painted half has a style loss.
    only_painted = style_targets(
        feature_pass(extractor), [(pictures["style"], 1.0)], s, regions[:1]
    )
    half = Objective(extractor, only_painted, s)
    _, with_keep = objective(pictures["a"], content)
    _, without = half(pictures["a"], half.content_targets(pictures["a"]))
    assert with_keep["style"] == pytest.approx(without["style"], rel=1e-4)


def test_meancov_targets_are_a_mean_and_a_covariance_root(extractor, pictures):
    s = Settings(style_stats="meancov")
    targets = style_targets(feature_pass(extractor), [(pictures["style"], 1.0)], s)
    mean, root = targets.layer_targets["relu1_1"]
    assert mean.shape == (1, 64) and root.shape == (1, 64, 64)
    _, cov = losses.mean_cov(extractor(pictures["style"])["relu1_1"])
    assert torch.allclose(root @ root, cov, atol=1e-2 * float(cov.abs().max()))
