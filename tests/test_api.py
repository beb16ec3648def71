import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly import api
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
    job = api.prepare(
        images["tubingen"],
        [(images["starry_night"], 2.0), images["the_scream"]],
        Settings(size=40, steps=1),
    )
    assert job.settings.seed is not None  # a random seed is drawn and recorded
    assert job.record["settings"]["seed"] == job.settings.seed
    assert job.record["styles"][0][1] == 2.0 and job.record["styles"][1][1] == 1.0


def test_init_from_image_and_style_scale(images):
    job = api.prepare(
        images["tubingen"],
        images["starry_night"],
        size=48,
        style_scale=0.75,
        init=str(images["the_scream"]),
    )
    assert job.start.shape == job.content.shape
    assert max(job.styles[0][0].shape[-2:]) == 36
    assert not torch.equal(job.start, job.content)


def test_bad_arguments(images):
    with pytest.raises(InputError, match="blend weight"):
        api.prepare(images["tubingen"], [(images["starry_night"], -1.0)], size=40)
    with pytest.raises(InputError, match="at least one style"):
        api.prepare(images["tubingen"], [], size=40)
    with pytest.raises(InputError, match="colour"):
        painterly.stylize(images["tubingen"], images["starry_night"], colour="red")
