"""Spatial control with masks, and the colour modes' rewriting of inputs."""

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly import cli, guides, io
from painterly.errors import InputError
from painterly.image import resize


def _half_mask(path, size=(64, 48), left_white=True):
    arr = np.zeros((size[1], size[0]), np.uint8)
    if left_white:
        arr[:, : size[0] // 2] = 255
    else:
        arr[:, size[0] // 2 :] = 255
    Image.fromarray(arr, "L").save(path)
    return path


def test_regions_cover_the_image_once():
    styles = ((torch.rand(1, 3, 8, 8), 1.0),)
    area = torch.zeros(1, 1, 8, 8)
    area[..., :4] = 1
    regions, finish = guides.regions(guides.Masks(area), styles, torch.rand(1, 3, 8, 8), None)
    assert len(regions) == 2 and regions[0].styles == styles and regions[1].styles is None
    assert torch.equal(regions[0].mask + regions[1].mask, torch.ones(1, 1, 8, 8))
    assert finish is not None
    assert guides.regions(guides.Masks(), styles, torch.rand(1, 3, 8, 8), None) == (None, None)


def test_per_style_masks_give_each_style_its_region():
    a, b = (torch.rand(1, 3, 8, 8), 1.0), (torch.rand(1, 3, 8, 8), 1.0)
    left = torch.zeros(1, 1, 8, 8)
    left[..., :4] = 1
    regions, _ = guides.regions(
        guides.Masks(None, (left, 1 - left)), (a, b), torch.rand(1, 3, 8, 8), None
    )
    assert [r.styles for r in regions[:2]] == [(a,), (b,)]
    assert regions[2].mask.sum() == 0  # everything is covered by a style


def test_composite_keeps_the_photo_outside_the_mask():
    photo = torch.rand(1, 3, 40, 40)
    area = torch.zeros(1, 1, 40, 40)
    area[..., :20] = 1
    _, finish = guides.regions(guides.Masks(area), ((photo, 1.0),), photo, None)
    out = finish(torch.zeros(1, 3, 40, 40))
    assert torch.allclose(out[..., 30:], photo[..., 30:], atol=1e-3)  # far right: the photo
    assert out[..., :10].abs().max() < 1e-3  # far left: the stylised image


def test_colour_modes_are_a_registry_that_refuses_unknown_names():
    content, style = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    same = guides.colour_mode("none").rewrite(content, [(style, 1.0)])
    assert same[0] is content and same[1][0][0] is style and same[2] is None
    image, styles, finish = guides.colour_mode("luminance").rewrite(content, [(style, 1.0)])
    assert torch.equal(image[:, 0], image[:, 1]) and finish is not None  # gray, colour put back
    assert torch.equal(guides.colour_mode("luminance").start(content), image)  # same space
    with pytest.raises(InputError, match="preserve_color='sepia': expected one of none"):
        guides.colour_mode("sepia")


def test_masked_run_stylises_only_the_white_half(images, tmp_path):
    mask = _half_mask(tmp_path / "left.png")
    kw = dict(size=64, steps=12, seed=0)
    out = painterly.stylize(images["tubingen"], images["the_scream"], mask=str(mask), **kw)
    photo = resize(io.load_image(images["tubingen"]), (out.height, out.width))
    diff = (io.load_image(out) - photo).abs().mean(dim=(0, 1))
    w = out.width
    assert diff[:, w // 2 + 6 :].mean() < 0.03  # the kept half is the photo
    assert diff[:, : w // 2 - 6].mean() > 3 * diff[:, w // 2 + 6 :].mean()


def _tiny_run(images, out, styles, *flags) -> list[str]:
    """CLI arguments for a 2-step, 40 px run of tubingen with ``styles`` and ``flags``."""
    paths = [str(images[name]) for name in ("tubingen", *styles)]
    return [*paths, "-o", str(out), "--size", "40", "--steps", "2", "-q", *flags]


def test_cli_mask_and_style_masks(images, tmp_path, capsys):
    left, right = _half_mask(tmp_path / "l.png"), _half_mask(tmp_path / "r.png", left_white=False)
    out = tmp_path / "o.png"
    argv = _tiny_run(images, out, ("starry_night", "the_scream"), "--style-mask", f"{left},{right}")
    assert cli.main(argv) == 0
    assert io.read_metadata(out)["style_masks"] == [str(left), str(right)]
    argv = _tiny_run(images, out, ("starry_night",), "--mask", str(tmp_path / "missing.png"))
    assert cli.main(argv) == 2
    assert "no such file" in capsys.readouterr().err
