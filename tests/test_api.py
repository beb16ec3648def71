import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly import api, io
from painterly.image import resize, resize_long_side, rgb_to_yiq
from painterly.inputs import Inputs
from painterly.settings import InputError, Settings


def test_stylize_takes_paths_pil_and_arrays(images):
    content = Image.open(images["tubingen"])
    style = np.asarray(Image.open(images["starry_night"]))
    out = painterly.stylize(content, [style], size=40, steps=2, seed=0)
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    assert max(out.size) == 40 and out.size[0] > out.size[1]  # landscape kept


def test_iterate_yields_every_step_with_losses(images):
    seen = list(
        painterly.iterate(images["tubingen"], images["starry_night"], size=40, steps=3, seed=1)
    )
    assert [p.step for p in seen] == [1, 2, 3] and seen[-1].done
    assert set(seen[0].losses) == {"content", "style", "tv", "total"}
    assert seen[-1].image().shape == (1, 3, *seen[-1].size)


def test_same_seed_same_result(images):
    kw = dict(size=40, steps=3, seed=3, init="noise")
    a = painterly.stylize(images["tubingen"], images["starry_night"], **kw)
    b = painterly.stylize(images["tubingen"], images["starry_night"], **kw)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_settings_object_and_record(images):
    inputs = Inputs.of(images["tubingen"], [(images["starry_night"], 2.0), images["the_scream"]])
    job = api.prepare(inputs, Settings(size=40, steps=1))
    assert job.settings.seed is not None  # a random seed is drawn and recorded
    assert job.record["settings"]["seed"] == job.settings.seed
    assert job.record["styles"][0][1] == 2.0 and job.record["styles"][1][1] == 1.0
    assert job.record["content"] == str(images["tubingen"]) and "mask" not in job.record


def test_init_from_an_image_file_or_tensor_and_style_scale(images):
    scream = str(images["the_scream"])
    inputs = Inputs.of(images["tubingen"], images["starry_night"], init_image=scream)
    job = api.prepare(inputs, size=48, style_scale=0.75)
    assert job.start.shape == job.content.shape
    assert max(job.styles[0][0].shape[-2:]) == 36
    assert not torch.equal(job.start, job.content)
    assert job.record["init_image"] == scream
    # A tensor (a video's warped previous frame) works as well, at any size.
    tensor = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    inputs = Inputs.of(images["tubingen"], images["starry_night"], init_image=tensor)
    job = api.prepare(inputs, size=48, start_size=48)
    assert torch.equal(job.start, resize(tensor, tuple(job.content.shape[-2:])))
    assert job.record["init_image"] == "<Tensor>"


def test_inputs_list_their_files_and_round_trip_a_record(images):
    inputs = Inputs.of(
        "c.png",
        [("a.png", 2.0), "b.png"],
        mask="m.png",
        style_masks=["ma.png", "mb.png"],
        init_image="i.png",
        weights_file="w.pth",
    )
    assert inputs.files() == [
        "c.png",
        "a.png",
        "b.png",
        "i.png",
        "m.png",
        "ma.png",
        "mb.png",
        "w.pth",
    ]
    assert Inputs.from_record(inputs.record()) == inputs
    pil = Image.open(images["tubingen"])
    assert Inputs.of(pil, "a.png").files() == ["a.png"]


def test_bad_arguments(images):
    with pytest.raises(InputError, match="blend weight"):
        Inputs.of(images["tubingen"], [(images["starry_night"], -1.0)])
    with pytest.raises(InputError, match="at least one style"):
        Inputs.of(images["tubingen"], [])
    with pytest.raises(InputError, match=r"1 mask\(s\) for 2 style"):
        Inputs.of("c.png", ["a.png", "b.png"], style_masks=["m.png"])
    with pytest.raises(InputError, match="weights='vgg.bin'"):
        Inputs.of("c.png", "a.png", weights_file="vgg.bin")
    with pytest.raises(InputError, match="colour"):
        painterly.stylize(images["tubingen"], images["starry_night"], colour="red")
    with pytest.raises(InputError, match="init='start.png'"):  # a start image is an input
        painterly.stylize(images["tubingen"], images["starry_night"], init="start.png")
    with pytest.raises(TypeError, match="Inputs"):
        api.prepare(images["tubingen"], Settings())


def _yiq(pil_image):
    return rgb_to_yiq(io.load_image(pil_image))


def test_preserve_color_luminance_keeps_the_photos_chroma(images):
    out = painterly.stylize(
        images["tubingen"],
        images["the_scream"],
        size=48,
        steps=5,
        seed=0,
        preserve_color="luminance",
    )
    content = resize(io.load_image(images["tubingen"]), (out.height, out.width))
    chroma_out = _yiq(out)[:, 1:]
    chroma_in = rgb_to_yiq(content)[:, 1:]
    assert (chroma_out - chroma_in).abs().mean() < 0.02  # only clamping and 8 bits differ
    plain = painterly.stylize(images["tubingen"], images["the_scream"], size=48, steps=5, seed=0)
    assert (_yiq(plain)[:, 1:] - chroma_in).abs().mean() > 2 * (chroma_out - chroma_in).abs().mean()


def test_preserve_color_histogram_recolours_the_style(images):
    inputs = Inputs.of(images["tubingen"], images["the_scream"])
    job = api.prepare(inputs, size=48, preserve_color="histogram")
    style, content = job.styles[0][0], job.content
    style_mean = style.mean(dim=(0, 2, 3))
    assert torch.allclose(style_mean, content.mean(dim=(0, 2, 3)), atol=0.03)
    assert job.stages[-1].finish is None


def test_preserve_color_painting_recolours_the_photo(images):
    """The content (its loss's target and the start) takes the painting's colour mean and
    covariance; the painting is left as it is."""
    inputs = Inputs.of(images["tubingen"], images["the_scream"])
    job = api.prepare(inputs, size=48, preserve_color="painting", steps=1)
    plain = api.prepare(inputs, size=48, preserve_color="none", steps=1)
    content, style = job.content, job.styles[0][0]
    assert torch.equal(style, plain.styles[0][0])
    assert (content - plain.content).abs().mean() > 0.02  # recoloured
    painting = resize_long_side(io.load_image(images["the_scream"]), 48)
    for stat in (lambda x: x.mean(dim=(0, 2, 3)), lambda x: torch.cov(x.reshape(3, -1))):
        assert torch.allclose(stat(content), stat(painting), atol=0.02)
    assert torch.equal(job.start, content)  # the default init starts from the recoloured photo
    assert job.stages[-1].finish is None
