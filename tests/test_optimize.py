"""The loop with the real caffe weights at tiny size."""

import pytest
import torch

from painterly import optimize
from painterly.image import resize, resize_long_side
from painterly.io import load_image
from painterly.objective import Objective, feature_pass, style_targets
from painterly.settings import Settings


@pytest.fixture(scope="module")
def pair(images):
    content = resize_long_side(load_image(images["tubingen"]), 64)
    style = resize_long_side(load_image(images["starry_night"]), 64)
    return content, style


def _run(extractor, pair, **changes):
    s = Settings(size=64, **changes)
    content, style = pair
    start = optimize.initial_image(
        s.init, content, torch.Generator().manual_seed(s.seed or 0), None
    )
    return list(optimize.run(extractor, _one(content, style, s.steps), s, start))


def _one(content, style, steps):
    return [optimize.Stage(content, ((style, 1.0),), steps)]


def test_lbfgs_lowers_the_style_loss_substantially(extractor, pair):
    steps = _run(extractor, pair, steps=40, seed=0)
    assert [p.step for p in steps] == list(range(1, 41))
    first, last = steps[0].losses, steps[-1].losses
    assert first["content"] == pytest.approx(0.0, abs=1e-6)  # starts from the photo
    assert last["style"] < 0.2 * first["style"]
    assert last["total"] < 0.5 * first["total"]
    image = steps[-1].image()
    assert image.shape == (1, 3, *steps[-1].size) and 0 <= image.min() and image.max() <= 1
    assert not torch.equal(image, pair[0])


def test_adam_lowers_the_loss_and_stays_in_range(extractor, pair):
    steps = _run(extractor, pair, optimizer="adam", steps=30, lr=0.03, seed=0)
    assert steps[-1].losses["total"] < 0.7 * steps[0].losses["total"]


def test_noise_init_is_reproducible_with_a_seed(extractor, pair):
    a = _run(extractor, pair, init="noise", steps=3, seed=5)[-1].image()
    b = _run(extractor, pair, init="noise", steps=3, seed=5)[-1].image()
    c = _run(extractor, pair, init="noise", steps=3, seed=6)[-1].image()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_blended_style_targets_are_weighted_means(extractor, pair):
    content, style = pair
    other = torch.flip(style, dims=[-1]).roll(7, dims=-2) * 0.6
    s = Settings(size=64, style_stats="gram")  # Gram matrices blend linearly
    features = feature_pass(extractor)
    mix = style_targets(features, [(style, 3.0), (other, 1.0)], s).layer_targets
    only_a = style_targets(features, [(style, 1.0)], s).layer_targets
    only_b = style_targets(features, [(other, 1.0)], s).layer_targets
    for name in s.style_layers:
        assert torch.allclose(
            mix[name], 0.75 * only_a[name] + 0.25 * only_b[name], rtol=1e-4, atol=1e-6
        )


def test_a_run_that_stays_nan_is_stopped(extractor, pair, monkeypatch):
    real = Objective.__call__

    def always_nan(self, image, targets):
        loss, values = real(self, image, targets)
        return loss * float("nan"), {**values, "total": float("nan")}

    monkeypatch.setattr(Objective, "__call__", always_nan)
    with pytest.raises(optimize.NumericsError, match="stayed so after 3 smaller steps"):
        _run(extractor, pair, steps=5, seed=0)


def test_breaking_out_cancels(extractor, pair):
    s = Settings(size=64, steps=1000)
    content, style = pair
    gen = optimize.run(extractor, _one(content, style, 1000), s, content)
    first = next(gen)
    gen.close()
    assert first.step == 1 and first.total == 1000 and not first.done


def test_a_nan_step_is_undone_with_a_smaller_step(extractor, pair, monkeypatch):
    calls = {"n": 0}
    real = Objective.__call__

    def flaky(self, image, targets):
        calls["n"] += 1
        loss, values = real(self, image, targets)
        if calls["n"] == 3:
            return loss * float("nan"), {**values, "total": float("nan")}
        return loss, values

    monkeypatch.setattr(Objective, "__call__", flaky)
    steps = _run(extractor, pair, steps=6, seed=0)
    assert [p.step for p in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[-1].state().lr == 0.5  # halved once
    assert all(torch.isfinite(p.image()).all() for p in steps)


def test_a_step_that_runs_away_is_undone_with_a_smaller_step(extractor, pair, monkeypatch):
    # A finite but absurd step (what torch's L-BFGS makes when an absolute y.s threshold
    # admits a bad curvature pair): the pixels thrown far out of range in one step.
    calls = {"n": 0}
    real = torch.optim.LBFGS.step

    def jumpy(self, closure):
        out = real(self, closure)
        calls["n"] += 1
        if calls["n"] == 3:
            with torch.no_grad():
                self.param_groups[0]["params"][0].add_(5.0)
        return out

    monkeypatch.setattr(torch.optim.LBFGS, "step", jumpy)
    steps = _run(extractor, pair, steps=6, seed=0)
    assert [p.step for p in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[-1].state().lr == 0.5  # halved once
    assert all(float(p.image().mean()) < 1.0 for p in steps)  # never the thrown image
    assert float(steps[-1].state().image.abs().max()) < 3


def _images_and_state(extractor, stages, s, start, at: int):
    """Run to the end: every step's image, and the state saved after step ``at``."""
    images, saved = [], None
    for p in optimize.run(extractor, stages, s, start):
        images.append(p.image())
        saved = p.state() if p.step == at else saved
    return images, saved


def test_state_resumes_bit_for_bit(extractor, pair):
    content, style = pair
    s = Settings(size=64, steps=8, seed=0)
    full, saved = _images_and_state(extractor, _one(content, style, 8), s, content, at=4)
    assert saved.step == 4
    rest = list(optimize.run(extractor, _one(content, style, 8), s, content, resume=saved))
    assert [p.step for p in rest] == [5, 6, 7, 8]
    assert torch.equal(rest[-1].image(), full[-1])


def test_bf16_autocast_keeps_losses_and_image_in_float32(extractor, pair):
    content, style = pair
    s = Settings(size=64, steps=20, seed=0)
    runs = {
        dtype: list(optimize.run(extractor, _one(content, style, 20), s, content, autocast=dtype))
        for dtype in (None, torch.bfloat16)
    }
    bf16 = runs[torch.bfloat16]
    assert bf16[-1].image().dtype == torch.float32
    assert bf16[-1].losses["style"] < 0.3 * bf16[0].losses["style"]
    # Same start, same targets: bf16 ends near the float32 result (its losses within 15%).
    ref = runs[None][-1].losses["total"]
    assert abs(bf16[-1].losses["total"] - ref) < 0.15 * ref


def test_coarse_to_fine_runs_every_scale_and_resumes_across_them(extractor, images):
    content = load_image(images["tubingen"])
    style = load_image(images["starry_night"])
    stages = [
        optimize.Stage(resize_long_side(content, side), ((resize_long_side(style, side), 1.0),), n)
        for side, n in ((40, 4), (64, 3))
    ]
    s = Settings(size=64, seed=0)
    start = stages[0].content
    seen, saved = [], None
    for p in optimize.run(extractor, stages, s, start):
        seen.append((p.step, p.scale, p.size, p.total))
        saved = p.state() if p.step == 3 else saved
        final = p.image()
    assert [x[0] for x in seen] == list(range(1, 8)) and all(x[3] == 7 for x in seen)
    assert [x[1] for x in seen] == [0, 0, 0, 0, 1, 1, 1]
    assert seen[0][2] == stages[0].size and seen[-1][2] == stages[1].size == tuple(final.shape[-2:])
    assert saved.scale == 0 and saved.step == 3
    rest = list(optimize.run(extractor, stages, s, start, resume=saved))
    assert [p.step for p in rest] == [4, 5, 6, 7] and [p.scale for p in rest] == [0, 1, 1, 1]
    assert torch.equal(rest[-1].image(), final)


def test_meancov_style_statistic_lowers_its_loss(extractor, pair):
    steps = _run(extractor, pair, steps=15, seed=0, style_stats="meancov")
    assert steps[-1].losses["style"] < 0.5 * steps[0].losses["style"]


def test_ema_shows_a_moving_average_and_resumes_exactly(extractor, pair):
    content, style = pair
    s = Settings(size=64, seed=0, ema=0.8)
    images, saved = _images_and_state(extractor, _one(content, style, 6), s, content, at=3)
    plain = _run(extractor, pair, steps=6, seed=0)
    assert not torch.equal(images[-1], plain[-1].image())  # the average, not the last iterate
    assert saved.average is not None and saved.average_count == 3
    rest = list(optimize.run(extractor, _one(content, style, 6), s, content, resume=saved))
    assert torch.equal(rest[-1].image(), images[-1])


def test_a_finer_scale_starts_with_the_photo_detail_the_coarser_could_not_hold(images):
    content = load_image(images["tubingen"])
    small = resize_long_side(content, 40)
    # The coarse picture *is* the photo at 40 px: adding back the lost detail gives the photo.
    assert torch.allclose(optimize.upscale(small, content), content.clamp(0, 1), atol=1e-5)
    # A coarse picture that differs keeps its difference (blurred), plus the photo's detail.
    painted = (small + 0.2).clamp(0, 1)
    start = optimize.upscale(painted, content)
    assert start.shape == content.shape and 0 <= start.min() and start.max() <= 1
    plain = resize(painted, tuple(content.shape[-2:]))
    detail = content - resize(small, tuple(content.shape[-2:]))
    assert (start - content).abs().mean() < (plain - content).abs().mean()
    assert torch.allclose(start, (plain + detail).clamp(0, 1), atol=1e-5)


def test_a_snapshot_shares_the_lbfgs_pairs_and_later_steps_leave_it_alone():
    """The checkpoint's copy of L-BFGS: its curvature pairs are shared, not copied (at 4K they
    are gigabytes), and steps after it change neither its lists nor its other tensors."""
    x = torch.tensor([3.0, -2.0, 1.0], requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=4)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (x**4).sum() + (x * x.roll(1)).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    live = opt.state_dict()
    frozen = optimize.frozen_copy(live)
    before = {k: [t.clone() for t in frozen["state"][0][k]] for k in ("old_dirs", "old_stps")}
    shared = frozen["state"][0]["old_dirs"]
    assert shared and all(a is b for a, b in zip(shared, live["state"][0]["old_dirs"], strict=True))
    assert frozen["state"][0]["prev_flat_grad"] is not live["state"][0]["prev_flat_grad"]
    saved_grad = frozen["state"][0]["prev_flat_grad"].clone()
    for _ in range(4):
        opt.step(closure)
    after = frozen["state"][0]
    assert len(after["old_dirs"]) == len(before["old_dirs"])
    for key in ("old_dirs", "old_stps"):
        assert all(torch.equal(a, b) for a, b in zip(after[key], before[key], strict=True))
    assert torch.equal(after["prev_flat_grad"], saved_grad)
