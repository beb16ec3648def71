"""A corpus of odd-but-valid and broken image files, made on the fly (nothing binary is
committed). Used by the io tests, the CLI corpus test and the fuzz test's seeds."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms


def _photo(size: tuple[int, int] = (40, 30)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.float32)
    y = np.linspace(0, 255, size[1], dtype=np.float32)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, 255 - (x + y) / 2], axis=2)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def _exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    _photo().save(path, exif=exif)


def _icc(path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _photo().save(path, icc_profile=srgb)


def _gif(path: Path) -> None:
    frames = [
        _photo().convert("P"),
        _photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("P"),
    ]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _png16(path: Path) -> None:
    Image.fromarray(np.asarray(_photo().convert("L"), np.uint16) * 257).save(path)


def _palette_transparent(path: Path) -> None:
    im = _photo().convert("P")
    im.info["transparency"] = 0
    im.save(path, transparency=0)


VALID: dict[str, Callable[[Path], None]] = {
    "rgb.png": lambda p: _photo().save(p),
    "exif_rotated.jpg": _exif_rotated,
    "cmyk.jpg": lambda p: _photo().convert("CMYK").save(p),
    "gray16.png": _png16,
    "gray16.tif": _png16,
    "gray.png": lambda p: _photo().convert("L").save(p),
    "gray_alpha.png": lambda p: _photo().convert("LA").save(p),
    "rgba.png": lambda p: _photo().convert("RGBA").save(p),
    "palette.png": lambda p: _photo().convert("P").save(p),
    "palette_transparent.png": _palette_transparent,
    "bilevel.png": lambda p: _photo().convert("1").save(p),
    "animated.gif": _gif,
    "photo.webp": lambda p: _photo().save(p, quality=90),
    "photo.bmp": lambda p: _photo().save(p),
    "photo.tif": lambda p: _photo().save(p),
    "icc_srgb.png": _icc,
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def png_bytes() -> bytes:
    buf = BytesIO()
    _photo((24, 16)).save(buf, "PNG")
    return buf.getvalue()


def truncated_png() -> bytes:
    data = png_bytes()
    return data[: len(data) // 2]


BROKEN: dict[str, Callable[[Path], None]] = {
    "empty.png": lambda p: p.write_bytes(b""),
    "truncated.png": lambda p: p.write_bytes(truncated_png()),
    "text.jpg": lambda p: p.write_text("this is not a picture\n"),
    "bomb.png": lambda p: p.write_bytes(bomb_png()),
}


def make(folder: Path, table: dict[str, Callable[[Path], None]]) -> dict[str, Path]:
    out = {}
    for name, build in table.items():
        out[name] = folder / name
        build(out[name])
    return out
