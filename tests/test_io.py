import os

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import io
from painterly.settings import InputError, InputNotice

from . import corpus


def test_load_rgb_png_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    t = io.load_image(tmp_path / "a.png")
    assert t.shape == (1, 3, 10, 12) and t.dtype == torch.float32
    assert np.array_equal(np.asarray(io.to_pil(t)), arr)


def test_modes_become_rgb(tmp_path):
    Image.new("L", (4, 3), 128).save(tmp_path / "g.png")
    Image.new("RGBA", (4, 3), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("P", (4, 3), 1).save(tmp_path / "p.gif")
    Image.fromarray(np.full((3, 4), 65535, dtype=np.uint16)).save(tmp_path / "w16.png")
    assert torch.allclose(io.load_image(tmp_path / "g.png"), torch.full((1, 3, 3, 4), 128 / 255))
    assert torch.equal(io.load_image(tmp_path / "clear.png"), torch.ones(1, 3, 3, 4))  # on white
    assert io.load_image(tmp_path / "p.gif").shape == (1, 3, 3, 4)
    assert torch.allclose(io.load_image(tmp_path / "w16.png"), torch.ones(1, 3, 3, 4))


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (6, 2), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    im.save(tmp_path / "r.jpg", exif=exif)
    assert io.load_image(tmp_path / "r.jpg").shape == (1, 3, 6, 2)


def test_arrays_and_tensors():
    assert io.load_image(np.zeros((5, 6), np.uint8)).shape == (1, 3, 5, 6)
    assert io.load_image(np.ones((5, 6, 4), np.float32)).shape == (1, 3, 5, 6)
    t = torch.rand(3, 5, 6)
    assert torch.equal(io.load_image(t)[0], t)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        io.load_image(np.full((5, 6, 3), 2.0))
    with pytest.raises(InputError, match="dtype"):
        io.load_image(np.zeros((5, 6, 3), np.int64))
    with pytest.raises(InputError, match="shape"):
        io.load_image(np.zeros((5, 6, 2), np.uint8))
    with pytest.raises(InputError):
        io.load_image(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "directory"),
        (lambda p: p.write_bytes(b""), "not an image"),
        (lambda p: p.write_text("hello, I am text"), "not an image"),
    ],
)
def test_bad_files(tmp_path, make, message):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(InputError, match=message):
        io.load_image(path)


def test_truncated_file(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(
        tmp_path / "a.png"
    )
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.png"):
        io.load_image(tmp_path / "t.png")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"])
def test_save_every_format_atomically(tmp_path, ext):
    out = io.save_image(torch.rand(1, 3, 8, 10), tmp_path / f"o{ext}", {"version": "x"})
    with Image.open(out) as im:
        assert im.size == (10, 8) and im.mode == "RGB"
    assert os.listdir(tmp_path) == [f"o{ext}"]  # no temp file left behind


def test_png_metadata_roundtrip(tmp_path):
    meta = {"version": "0.1.0", "settings": {"size": 64}}
    io.save_image(torch.rand(1, 3, 8, 8), tmp_path / "m.png", meta)
    assert io.read_metadata(tmp_path / "m.png") == meta


def test_output_checks(tmp_path):
    with pytest.raises(InputError, match="unknown output format '.gif'"):
        io.check_output_path(tmp_path / "a.gif")
    with pytest.raises(InputError, match="unknown output format"):
        io.check_output_path(tmp_path / "noext")
    with pytest.raises(InputError, match="does not exist"):
        io.check_output_path(tmp_path / "missing" / "a.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match="directory"):
        io.check_output_path(tmp_path / "d.png")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError):
        io.save_image(torch.rand(1, 3, 4, 4), target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.png"]


# --- odd but valid files, broken files, limits -------------------------------------------


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return corpus.make(tmp_path_factory.mktemp("valid"), corpus.VALID)


@pytest.mark.parametrize("name", sorted(corpus.VALID))
def test_odd_valid_files_load_as_rgb(valid, name):
    with warnings_allowed():
        t = io.load_image(valid[name])
    assert t.dim() == 4 and t.shape[:2] == (1, 3) and t.dtype == torch.float32
    assert 0 <= t.min() and t.max() <= 1 and torch.isfinite(t).all()
    expected = (40, 30) if name != "exif_rotated.jpg" else (30, 40)
    assert (t.shape[3], t.shape[2]) == expected


class warnings_allowed:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", InputNotice)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def test_animated_gif_uses_first_frame_with_a_notice(valid):
    with pytest.warns(InputNotice, match="2 frames; using the first"):
        t = io.load_image(valid["animated.gif"])
    first = io.load_image(Image.open(valid["animated.gif"]).convert("RGB"))
    assert torch.allclose(t, first)


def test_cmyk_and_icc_colours(valid):
    rgb = io.load_image(valid["rgb.png"])
    assert (io.load_image(valid["cmyk.jpg"]) - rgb).abs().mean() < 0.05
    assert (io.load_image(valid["icc_srgb.png"]) - rgb).abs().max() < 3 / 255  # sRGB -> sRGB


def test_broken_colour_profile_is_ignored_with_a_notice(tmp_path):
    corpus._photo().save(tmp_path / "bad_icc.png", icc_profile=b"definitely not icc")
    with pytest.warns(InputNotice, match="colour profile"):
        assert io.load_image(tmp_path / "bad_icc.png").shape == (1, 3, 30, 40)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    (tmp_path / "big.png").write_bytes(corpus.bomb_png(12_000, 12_000))  # 144 MP
    with pytest.raises(InputError, match="144 megapixels, over the limit of 100"):
        io.load_image(tmp_path / "big.png")
    (tmp_path / "bomb.png").write_bytes(corpus.bomb_png())  # 10 000 MP: Pillow's guard
    with pytest.raises(InputError, match="too large"):
        io.load_image(tmp_path / "bomb.png", max_pixels=None)


def test_pixel_limit_is_configurable(valid):
    with pytest.raises(InputError, match="limit"):
        io.load_image(valid["rgb.png"], max_pixels=1000)
    assert io.load_image(valid["rgb.png"], max_pixels=1200).shape == (1, 3, 30, 40)
