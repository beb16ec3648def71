"""Pixels and what a file says about them, as the bytes of a PNG, JPEG, WebP or TIFF file.

io.py's helper: io.py turns tensors into pixels and decides what goes in; this module only
encodes. Every file gets an sRGB ICC profile, the resolution when one is asked for, the
photo's kept EXIF (:data:`KEPT_EXIF`) and the run's record. Pillow cannot hold 16 bits per
channel in colour, so PNG is written chunk by chunk here (8 and 16 bit alike: one writer,
one set of metadata) and TIFF by tifffile; JPEG and WebP stay Pillow's.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageCms

from painterly.errors import InputNotice

# The EXIF kept from a photo in what we write from it, by tag, with the directory it lives
# in (0: the image's own; the Exif sub-IFD otherwise): who took it, with what camera, and
# when. Everything else is dropped: the orientation (our pixels are upright already), the
# thumbnail (a small copy of the unstylised photo), GPS (a picture made to be shared should
# not carry where the photo was taken unasked), exposure, sizes and resolution (about the
# photo, not the picture), maker notes (opaque, with offsets that break when rewritten).
_EXIF_IFD = int(ExifTags.IFD.Exif)
KEPT_EXIF: dict[int, int] = {
    **{int(ExifTags.Base[n]): 0 for n in ("Make", "Model", "DateTime", "Artist", "Copyright")},
    **{
        int(ExifTags.Base[n]): _EXIF_IFD
        for n in (
            "DateTimeOriginal",
            "DateTimeDigitized",
            "OffsetTime",
            "OffsetTimeOriginal",
            "OffsetTimeDigitized",
        )
    },
}
DESCRIPTION, SOFTWARE = int(ExifTags.Base.ImageDescription), int(ExifTags.Base.Software)
ICC_TAG = 34675  # TIFF's InterColorProfile
MAX_EXIF_BYTES = 65_000  # a JPEG segment holds 65 533 bytes, the EXIF block one segment
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_BAND = 256  # rows filtered at a time: bounded memory at 8K


@dataclass(frozen=True)
class Tags:
    """What a file says besides its pixels: ``record`` (the run's, as JSON text, or None),
    ``software``, ``dpi`` (None: no resolution written), ``camera`` (tag -> text: the kept
    EXIF, :func:`camera_tags`)."""

    record: str | None = None
    software: str = "painterly"
    dpi: int | None = None
    camera: Mapping[int, str] = field(default_factory=dict)


def srgb_profile() -> bytes:
    """An sRGB ICC profile (LittleCMS's built-in one, made offline; about 600 bytes)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_tags(exif: Image.Exif) -> dict[int, str]:
    """The :data:`KEPT_EXIF` tags that ``exif`` holds as text, as ASCII (EXIF's text)."""
    ifds = {0: exif, _EXIF_IFD: exif.get_ifd(_EXIF_IFD)}
    kept = {}
    for tag, ifd in KEPT_EXIF.items():
        value = ifds[ifd].get(tag)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and value.strip("\x00 "):
            kept[tag] = value.strip("\x00 ").encode("ascii", "replace").decode("ascii")
    return kept


def exif_block(tags: Tags, with_record: bool, with_dpi: bool) -> Image.Exif:
    """The EXIF of a JPEG, WebP (record and resolution too) or PNG (neither: PNG has its
    own chunks for them)."""
    exif = Image.Exif()
    sub = {tag: v for tag, v in tags.camera.items() if KEPT_EXIF.get(tag) == _EXIF_IFD}
    exif.update({tag: v for tag, v in tags.camera.items() if KEPT_EXIF.get(tag) == 0})
    if sub:
        exif[_EXIF_IFD] = sub
    exif[SOFTWARE] = tags.software
    if with_record and tags.record is not None:
        if len(tags.record) < MAX_EXIF_BYTES - 4096:
            exif[DESCRIPTION] = tags.record
        else:
            notice = InputNotice("the run's record is too long for EXIF; left out of the file")
            warnings.warn(notice, stacklevel=2)
    if with_dpi and tags.dpi is not None:
        exif.update({282: float(tags.dpi), 283: float(tags.dpi), 296: 2})  # per inch
    return exif


# --- the writers: pixels (H, W, 3) uint8 or uint16 -> a file ----------------------------


def write_png(fh: BinaryIO, pixels: np.ndarray, tags: Tags) -> None:
    """A PNG of 8 or 16 bits a channel: IHDR, iCCP, pHYs, eXIf, tEXt, IDAT, IEND. Every
    row Paeth-filtered (the filter that suits photographs best, computed on whole bands)."""
    height, width, _ = pixels.shape
    depth = 8 * pixels.dtype.itemsize
    fh.write(PNG_SIGNATURE)
    _chunk(fh, b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0))
    _chunk(fh, b"iCCP", b"sRGB\x00\x00" + zlib.compress(srgb_profile()))
    if tags.dpi is not None:
        per_metre = round(tags.dpi / 0.0254)
        _chunk(fh, b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1))
    if tags.camera:
        exif = exif_block(tags, with_record=False, with_dpi=False)
        _chunk(fh, b"eXIf", exif.tobytes()[6:])  # without a JPEG segment's "Exif\0\0"
    texts = {"Software": tags.software, **({"painterly": tags.record} if tags.record else {})}
    for key, text in texts.items():  # JSON is ASCII (json.dumps escapes the rest)
        _chunk(fh, b"tEXt", key.encode("latin-1") + b"\x00" + text.encode("latin-1", "replace"))
    rows = pixels.astype(">u2" if depth == 16 else np.uint8).view(np.uint8).reshape(height, -1)
    _chunk(fh, b"IDAT", _paeth_deflate(rows, 3 * depth // 8))
    _chunk(fh, b"IEND", b"")


def _chunk(fh: BinaryIO, kind: bytes, data: bytes) -> None:
    fh.write(struct.pack(">I", len(data)) + kind + data)
    fh.write(struct.pack(">I", zlib.crc32(kind + data)))


def _paeth_deflate(rows: np.ndarray, bpp: int) -> bytes:
    """The image data of a PNG: each row of bytes Paeth-filtered (filter type 4), deflated."""
    compressor = zlib.compressobj(6)
    out, above = [], np.zeros(rows.shape[1], np.int16)
    for top in range(0, rows.shape[0], PNG_BAND):
        x = rows[top : top + PNG_BAND].astype(np.int16)
        b = np.vstack([above[None], x[:-1]])  # the byte above
        a = np.zeros_like(x)  # the byte to the left, one pixel back
        a[:, bpp:] = x[:, :-bpp]
        c = np.zeros_like(x)
        c[:, bpp:] = b[:, :-bpp]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        predicted = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        filtered = (x - predicted).astype(np.uint8)  # modulo 256, as the format says
        band = np.hstack([np.full((len(x), 1), 4, np.uint8), filtered])
        out.append(compressor.compress(band.tobytes()))
        above = x[-1]
    out.append(compressor.flush())
    return b"".join(out)


def write_tiff(fh: BinaryIO, pixels: np.ndarray, tags: Tags) -> None:
    """A deflated TIFF of 8 or 16 bits a channel (tifffile): the ICC profile, the resolution,
    the record as ImageDescription, the kept EXIF of the image's own directory (the dates of
    the Exif sub-IFD do not go into a TIFF: tifffile writes no sub-IFD)."""
    import tifffile

    icc = srgb_profile()
    extra = [(ICC_TAG, 7, len(icc), icc, True)]
    extra += [(t, "s", 0, v, True) for t, v in tags.camera.items() if KEPT_EXIF.get(t) == 0]
    resolution: dict[str, Any] = {}
    if tags.dpi is not None:
        resolution = {"resolution": (tags.dpi, tags.dpi), "resolutionunit": "INCH"}
    buffer = BytesIO()  # tifffile wants a named file or a buffer; ours may be an fd's
    tifffile.imwrite(
        buffer,
        pixels,
        photometric="rgb",
        compression="zlib",
        predictor=True,
        description=tags.record,
        software=tags.software,
        metadata=None,  # no tifffile JSON of its own in the description
        extratags=extra,
        **resolution,
    )
    fh.write(buffer.getbuffer())


def pillow_writer(fmt: str, **options: Any) -> Callable[[BinaryIO, np.ndarray, Tags], None]:
    """A writer by Pillow (8 bits a channel) with ``options``; the record, resolution and
    camera tags go in the EXIF block, the resolution also where the format has its own."""

    def write(fh: BinaryIO, pixels: np.ndarray, tags: Tags) -> None:
        exif = exif_block(tags, with_record=True, with_dpi=True)
        extra = {"dpi": (tags.dpi, tags.dpi)} if tags.dpi is not None else {}
        Image.fromarray(pixels).save(
            fh, format=fmt, icc_profile=srgb_profile(), exif=exif, **options, **extra
        )

    return write


@dataclass(frozen=True)
class Format:
    """An output format: Pillow's name for it, its writer, the bits a channel it holds."""

    name: str
    write: Callable[[BinaryIO, np.ndarray, Tags], None]
    bit_depths: tuple[int, ...] = (8,)


# Output formats by file extension, written with the options that suit a finished picture.
_JPEG = Format("JPEG", pillow_writer("JPEG", quality=95, subsampling=0))
_TIFF = Format("TIFF", write_tiff, (8, 16))
FORMATS: dict[str, Format] = {
    ".png": Format("PNG", write_png, (8, 16)),
    ".jpg": _JPEG,
    ".jpeg": _JPEG,
    ".webp": Format("WEBP", pillow_writer("WEBP", quality=95, method=6)),
    ".tif": _TIFF,
    ".tiff": _TIFF,
}


__all__ = [
    "FORMATS",
    "KEPT_EXIF",
    "Format",
    "Tags",
    "camera_tags",
    "exif_block",
    "pillow_writer",
    "srgb_profile",
    "write_png",
    "write_tiff",
]
