"""Training: the schedule, a tiny network that learns, and exact resumption."""

import copy
import dataclasses

import pytest
import torch

from painterly.errors import InputError
from painterly.image import resize_long_side
from painterly.io import load_image
from painterly.settings import train_settings
from painterly.train import Trainer, TrainOptions, learning_rate

TINY = TrainOptions(steps=12, crop=32, batch=2, lr=5e-3, photo_side=48)


@pytest.fixture(scope="module")
def photos(images):
    return [resize_long_side(load_image(images["tubingen"]), 48)]


@pytest.fixture(scope="module")
def style(images):
    return [(load_image(images["starry_night"]), 1.0)]


def _trainer(extractor, photos, style, options=TINY, state=None, settings=None):
    settings = settings or train_settings()
    return Trainer(
        extractor, photos, style, settings, options, device=torch.device("cpu"), state=state
    )


def test_learning_rate_warms_up_then_decays():
    rates = [learning_rate(1.0, step, 100) for step in range(100)]
    assert rates[0] == pytest.approx(0.2) and rates[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[4:], rates[5:], strict=False))
    assert rates[-1] == pytest.approx(0.1, abs=0.01)


def test_a_tiny_network_lowers_its_loss(extractor, photos, style):
    trainer = _trainer(extractor, photos, style, TrainOptions(**{**TINY.to_dict(), "steps": 30}))
    fixed = photos[0][..., :32, :32]
    targets = trainer.objective.content_targets(fixed)

    def loss() -> float:
        with torch.no_grad():
            return trainer.objective(trainer.net(fixed), targets)[1]["total"]

    before = loss()
    assert trainer.net.spec.head and not trainer.net.head[-1][-1].weight.any()  # starts at 0
    seen = [p.step for p in trainer.run()]
    assert seen == list(range(1, 31))
    assert loss() < 0.7 * before
    assert trainer.net.head[-1][-1].weight.abs().mean() > 1e-4  # the full-size head learns


def _one_step_gradients(trainer, crops):
    loss, _ = trainer.objective(trainer.net(crops), trainer.objective.content_targets(crops))
    loss.backward()
    return {name: p.grad for name, p in trainer.net.named_parameters()}


def test_the_networks_gradients_are_those_of_a_pass_in_the_default_layout(extractor, photos, style):
    # `painterly train` runs VGG19 channels last (faster on a CPU), and whatever layouts a
    # trainer uses, its network must get the gradients of a pass in the default layout:
    # torch 2.13's instance normalisation gets them wrong for a batch of one (the default)
    # when the gradient arriving is channels last.
    one = TrainOptions(**{**TINY.to_dict(), "batch": 1})
    as_trained = _trainer(
        copy.deepcopy(extractor).to(memory_format=torch.channels_last), photos, style, one
    )
    reference = _trainer(extractor, photos, style, one)
    reference.net.to(memory_format=torch.contiguous_format)
    crops = as_trained.batch()
    got = _one_step_gradients(as_trained, crops)
    want = _one_step_gradients(reference, crops.contiguous())
    for name, grad in want.items():
        if name.endswith("weight"):  # (biases before a normalisation get ~0 gradients)
            assert torch.allclose(got[name], grad, rtol=1e-3, atol=1e-6 * float(grad.abs().max()))


@pytest.mark.parametrize(("colour", "noise"), [("none", 0), ("painting", 0), ("none", 8)])
def test_a_resumed_run_ends_with_the_same_weights(extractor, photos, style, colour, noise):
    settings = train_settings(preserve_color=colour)
    options = TrainOptions(**{**TINY.to_dict(), "noise": noise})  # noise: drawn as the crops
    straight = _trainer(extractor, photos, style, options, settings=settings)
    for _ in straight.run():
        pass
    first = _trainer(extractor, photos, style, options, settings=settings)
    for progress in first.run():
        if progress.step == 5:
            saved = first.state()
            break
    resumed = _trainer(extractor, photos, style, options, state=saved, settings=settings)
    assert [p.step for p in resumed.run()] == list(range(6, 13))
    for key, value in straight.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key


def test_a_checkpoint_keeps_its_networks_design_and_an_earlier_one_is_refused_clearly(
    extractor, photos, style, monkeypatch
):
    from painterly import transform

    first = _trainer(extractor, photos, style)
    saved = first.state()
    assert transform.NetSpec.from_dict(saved["net_spec"]) == first.net.spec
    # 'rt' comes to mean another design later: the checkpoint still resumes its own
    other = dataclasses.replace(transform.ARCHITECTURES["rt"], half_out=False)
    monkeypatch.setitem(transform.ARCHITECTURES, "rt", other)
    resumed = _trainer(extractor, photos, style, state=saved)
    assert resumed.net.spec == first.net.spec
    # a checkpoint from before the design was kept in it, for what 'rt' meant then: refused
    earlier = {k: v for k, v in saved.items() if k != "net_spec"}
    with pytest.raises(InputError, match="an earlier version made it"):
        _trainer(extractor, photos, style, state=earlier)


def test_bad_options_and_inputs(extractor, photos, style):
    with pytest.raises(InputError, match="crop=16"):
        TrainOptions(crop=16)
    with pytest.raises(InputError, match="larger than photo_side"):
        TrainOptions(crop=256, photo_side=128)
    with pytest.raises(InputError, match="architecture='xl'"):
        TrainOptions(architecture="xl")
    for noise in (-1, 17, 1.5, True):
        with pytest.raises(InputError, match="noise="):
            TrainOptions(noise=noise)
    with pytest.raises(InputError, match="no photos"):
        _trainer(extractor, [], style)
    for mode in ("luminance", "histogram"):  # they act on one photo at a time
        with pytest.raises(InputError, match=f"{mode} is an option of 'painterly apply'"):
            _trainer(extractor, photos, style, settings=train_settings(preserve_color=mode))


def test_painting_colours_train_on_the_photos_recoloured_with_the_paintings_palette(
    extractor, photos, style
):
    """--preserve-color painting: the content targets are the same crops of the photo
    recoloured with the painting's colour statistics; the network still sees the photo."""
    from painterly.image import match_colour_statistics

    plain = _trainer(extractor, photos, style)
    painted = _trainer(extractor, photos, style, settings=train_settings(preserve_color="painting"))
    recoloured = match_colour_statistics(painted.photos[0], style[0][0])
    crops, targets = painted._crops()
    assert torch.equal(crops, plain.batch())  # the same draws, the same crops
    assert not torch.allclose(crops, targets, atol=0.05)
    # each target is a window of the recoloured photo (flipped or not)
    size = TINY.crop
    for crop, target in zip(crops, targets, strict=True):
        found = False
        for top in range(recoloured.shape[-2] - size + 1):
            for left in range(recoloured.shape[-1] - size + 1):
                window = recoloured[0, :, top : top + size, left : left + size]
                source = painted.photos[0][0, :, top : top + size, left : left + size]
                for flip in (False, True):
                    w, s = (window.flip(-1), source.flip(-1)) if flip else (window, source)
                    if torch.equal(s, crop) and torch.equal(w, target):
                        found = True
        assert found
    # its mean colour is the painting's, not the photo's
    palette = style[0][0].mean(dim=(-2, -1))
    assert torch.allclose(recoloured.mean(dim=(-2, -1)), palette, atol=0.03)


def test_with_noise_the_network_trains_on_fresh_noise_each_step_and_without_on_none(
    extractor, photos, style, monkeypatch
):
    from painterly import transform

    noisy = TrainOptions(**{**TINY.to_dict(), "noise": 8})
    trainer = _trainer(extractor, photos, style, noisy)
    assert trainer.net.spec.noise == 8
    fed: list[torch.Tensor] = []
    forward = transform.TransformNet.forward
    monkeypatch.setattr(
        transform.TransformNet,
        "forward",
        lambda net, image, noise=None: fed.append(noise) or forward(net, image, noise),
    )
    trainer.advance()
    trainer.advance()
    assert fed[0].shape == (2, 8, 8, 8) and not torch.equal(fed[0], fed[1])
    quiet = _trainer(extractor, photos, style)  # the default: none
    assert quiet.net.spec.noise == transform.ARCHITECTURES["rt"].noise == 0
    assert "noise_field" not in quiet.net.state_dict()
    quiet.advance()
    assert fed[2] is None
