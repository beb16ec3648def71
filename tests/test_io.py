import os
import struct
import zlib
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

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
    im = Image.new("RGB", (32, 16), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 16, 16))  # the left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown: the left half goes on top
    im.save(tmp_path / "r.jpg", exif=exif)
    t = io.load_image(tmp_path / "r.jpg")
    assert t.shape == (1, 3, 32, 16)
    top, bottom = t[0, :, 4:12].mean(dim=(1, 2)), t[0, :, 20:28].mean(dim=(1, 2))
    assert top[0] > 0.9 > 0.1 > top[2] and bottom[2] > 0.9 > 0.1 > bottom[0]


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


# --- print-grade output: 16 bits, sRGB profile, dpi, EXIF, the record --------------------

EVERY = [(".png", 8), (".png", 16), (".tif", 16), (".tiff", 8), (".jpg", 8), (".webp", 8)]


def fine_levels(h=9, w=11):
    """A tensor on the 16-bit grid whose values 8 bits cannot hold, and its levels."""
    levels = torch.randint(0, 65536, (1, 3, h, w), generator=torch.Generator().manual_seed(0))
    levels[0, 0, 0, :3] = torch.tensor([0, 1, 65535])
    return levels.double().div(65535).float(), levels


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_sixteen_bits_round_trip_exactly(tmp_path, ext):
    image, levels = fine_levels()
    out = io.save_image(image, tmp_path / f"o{ext}", options=io.OutputOptions(bit_depth=16))
    back = io.load_image(out)
    assert torch.equal(back.double().mul(65535).round().long(), levels)
    assert not torch.equal(io.load_image(io.save_image(image, tmp_path / f"e{ext}")), back)
    if ext == ".tif":  # another reader sees the same 16-bit samples
        import tifffile

        assert np.array_equal(tifffile.imread(out), levels[0].permute(1, 2, 0).numpy())
    else:
        assert out.read_bytes()[24] == 16  # IHDR's bit depth


def png16(path, pixels, filter_type=0, orientation=None):
    """A 16-bit RGB(A) PNG made by hand, every row with the same simple filter (0 or 2),
    with an EXIF orientation if given."""
    h, w, c = pixels.shape
    rows = pixels.astype(">u2").view(np.uint8).reshape(h, -1).astype(np.int16)
    if filter_type == 2:
        rows[1:] -= rows[:-1].copy()  # Up: the byte above
    raw = np.hstack([np.full((h, 1), filter_type), rows.astype(np.uint8)]).astype(np.uint8)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if c == 3 else 6, 0, 0, 0)
    body = corpus._chunk(b"IHDR", ihdr)
    if orientation is not None:
        exif = Image.Exif()
        exif[274] = orientation
        body += corpus._chunk(b"eXIf", exif.tobytes()[6:])
    body += corpus._chunk(b"IDAT", zlib.compress(raw.tobytes()))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + corpus._chunk(b"IEND", b""))


def test_sixteen_bit_files_of_other_writers_load_at_full_precision(tmp_path):
    import tifffile

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 65536, (7, 5, 3), dtype=np.uint16)
    png16(tmp_path / "up.png", rgb, filter_type=2)
    tifffile.imwrite(tmp_path / "deflate.tif", rgb, photometric="rgb", compression="zlib")
    tifffile.imwrite(tmp_path / "big_endian.tif", rgb, photometric="rgb", byteorder=">")
    for name in ("up.png", "deflate.tif", "big_endian.tif"):
        back = io.load_image(tmp_path / name)[0].permute(1, 2, 0).double().mul(65535).round()
        assert np.array_equal(back.numpy(), rgb), name
    rgba = rng.integers(0, 65536, (7, 5, 4), dtype=np.uint16)
    rgba[..., 3] = 65535  # opaque: the colours come through as they are
    png16(tmp_path / "rgba.png", rgba)
    back = io.load_image(tmp_path / "rgba.png")[0].permute(1, 2, 0).double().mul(65535).round()
    assert np.array_equal(back.numpy(), rgba[..., :3])
    # the EXIF orientation applies to a 16-bit file too: (7, 5) shown turned is (5, 7)
    tifffile.imwrite(tmp_path / "turned.tif", rgb, photometric="rgb", extratags=[(274, 3, 1, 6)])
    png16(tmp_path / "turned.png", rgb, orientation=6)
    for name in ("turned.tif", "turned.png"):
        turned = io.load_image(tmp_path / name)[0].permute(1, 2, 0).double().mul(65535)
        assert np.array_equal(turned.round().numpy(), np.rot90(rgb, k=-1)), name


@pytest.mark.parametrize(("ext", "bits"), EVERY)
def test_every_output_carries_srgb_dpi_and_the_record(tmp_path, ext, bits):
    meta = {"version": "x", "settings": {"size": 64}, "content": "photo é.jpg"}
    options = io.OutputOptions(bit_depth=bits, dpi=300)
    out = io.save_image(torch.rand(1, 3, 8, 10), tmp_path / f"o{ext}", meta, options=options)
    with Image.open(out) as im:
        profile = ImageCms.ImageCmsProfile(BytesIO(im.info["icc_profile"]))
        dpi = im.info.get("dpi") or (im.getexif()[282],) * 2  # WebP: in its EXIF
        software = im.getexif().get(305) or im.info.get("Software")
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert profile.profile.xcolor_space == "RGB "
    assert [round(float(d)) for d in dpi] == [300, 300]
    assert io.read_metadata(out) == meta and software.startswith("painterly ")


def test_the_photos_exif_is_kept_where_safe(tmp_path):
    exif = Image.Exif()
    exif.update({271: "Testcam", 272: "T-1000", 306: "2024:05:06 07:08:09", 274: 6})
    exif[0x8769] = {36867: "2024:05:06 07:08:00", 33434: (1, 125)}  # capture time, exposure
    exif[0x8825] = {1: "N", 2: (48.0, 31.0, 0.0)}  # GPS
    corpus._photo().save(tmp_path / "photo.jpg", exif=exif)
    kept = io.camera_exif(tmp_path / "photo.jpg")
    assert kept == {
        271: "Testcam",
        272: "T-1000",
        306: "2024:05:06 07:08:09",
        36867: exif[0x8769][36867],
    }
    assert io.camera_exif((tmp_path / "photo.jpg").read_bytes()) == kept
    assert io.camera_exif(torch.rand(3, 4, 4)) == {} and io.camera_exif(tmp_path / "none") == {}
    for ext, bits in EVERY:
        out = tmp_path / f"o{bits}{ext}"
        io.save_image(torch.rand(1, 3, 4, 4), out, options=io.OutputOptions(bits), exif=kept)
        with Image.open(out) as im:
            written = im.getexif()
            sub = written.get_ifd(0x8769)
        assert (written[271], written[272], written[306]) == ("Testcam", "T-1000", kept[306])
        assert 274 not in written and 0x8825 not in written and 33434 not in sub, ext
        assert sub.get(36867) == (None if ext.startswith(".tif") else kept[36867]), ext


def test_output_options_are_checked(tmp_path):
    with pytest.raises(InputError, match="--bit-depth 16: a .jpg file"):
        io.check_output_path(tmp_path / "a.jpg", io.OutputOptions(bit_depth=16))
    with pytest.raises(InputError, match="--bit-depth 16: a .webp file"):
        io.encode_image(torch.rand(1, 3, 4, 4), ".webp", options=io.OutputOptions(16))
    for bad in ({"bit_depth": 12}, {"dpi": 0}, {"dpi": 70000}, {"dpi": 72.5}):
        with pytest.raises(InputError):
            io.OutputOptions(**bad)
    assert os.listdir(tmp_path) == []


def test_a_foreign_description_is_no_record(tmp_path):
    exif = Image.Exif()
    exif[270] = "Sunset over the lake"
    corpus._photo().save(tmp_path / "theirs.jpg", exif=exif)
    assert io.read_metadata(tmp_path / "theirs.jpg") is None


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

    monkeypatch.setattr(os, "fsync", boom)  # the bytes are written; making them last fails
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
