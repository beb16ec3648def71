"""Files <-> tensors: the only module (with its encoders.py) that imports PIL or touches
image files.

Inside the package an image is a float32 RGB tensor ``(1, 3, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from painterly import encoders
from painterly.encoders import FORMATS
from painterly.errors import InputError, InputNotice
from painterly.settings import DEFAULT_MAX_INPUT_MEGAPIXELS
from painterly.version import __version__

ImageSource = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

METADATA_KEY = "painterly"  # a PNG's text chunk with the record
DEFAULT_MAX_PIXELS = int(DEFAULT_MAX_INPUT_MEGAPIXELS * 1e6)
BIT_DEPTHS = (8, 16)
MAX_DPI = 65535  # a JPEG keeps its density in 16 bits


@dataclass(frozen=True)
class OutputOptions:
    """How a result is written besides its format: ``bit_depth`` bits a colour channel
    (16: PNG and TIFF only), ``dpi`` the resolution recorded in the file (None: none)."""

    bit_depth: int = 8
    dpi: int | None = None

    def __post_init__(self) -> None:
        if self.bit_depth not in BIT_DEPTHS:
            depths = " or ".join(map(str, BIT_DEPTHS))
            raise InputError(f"--bit-depth {self.bit_depth}: expected {depths}")
        dpi = self.dpi
        if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, int)):
            raise InputError(f"--dpi {dpi!r}: expected a whole number")
        if dpi is not None and not 1 <= dpi <= MAX_DPI:
            raise InputError(f"--dpi {dpi}: expected 1 to {MAX_DPI}")

    def check(self, suffix: str) -> None:
        """An InputError when a file ending in ``suffix`` (a known format) cannot hold these."""
        fmt = FORMATS[suffix.lower()]
        if self.bit_depth not in fmt.bit_depths:
            able = " ".join(s for s, f in FORMATS.items() if self.bit_depth in f.bit_depths)
            raise InputError(
                f"--bit-depth {self.bit_depth}: a {suffix} file ({fmt.name}) holds 8 bits a "
                f"channel; use {able}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"bit_depth": self.bit_depth, "dpi": self.dpi}


def load_image(source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read a path, PIL image, array or tensor as RGB float32, shape ``(1, 3, H, W)``.

    Alpha is composited on white; EXIF orientation is applied; an embedded ICC profile is
    converted to sRGB; of an animated image the first frame is used (with an InputNotice).
    A 16-bit PNG or TIFF keeps its 16 bits (when it is in sRGB or has no profile; another
    profile is converted at 8 bits). Arrays may be ``(H, W)``, ``(H, W, 3|4)`` of uint8,
    uint16 or floats in [0, 1].
    Files with more than ``max_pixels`` pixels are refused before they are decoded.
    """
    if isinstance(source, torch.Tensor):
        return _from_tensor(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, "array")
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, (str, os.PathLike)):
        return _from_decoded(_decode(Path(source), max_pixels, None, wide=True))
    raise InputError(f"cannot read an image from a {type(source).__name__}")


def decode_image(
    data: bytes, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> torch.Tensor:
    """:func:`load_image` of a file's bytes (read elsewhere: a batch's driver sends them to
    its workers); ``name`` is the file's path, for messages."""
    return _from_decoded(_decode(Path(name), max_pixels, data, wide=True))


def open_image(
    path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, data: bytes | None = None
) -> Image.Image:
    """Open and fully decode an image file (or ``data``, that file's bytes), turning every
    failure into one clear InputError.

    Pillow's own decompression-bomb guard stays on; ``max_pixels`` is checked first, from
    the header, so a huge declared size is refused before any memory is spent on it.
    """
    image = _decode(path, max_pixels, data, wide=False)
    assert isinstance(image, Image.Image)
    return image


def _decode(
    path: Path, max_pixels: int | None, data: bytes | None, wide: bool
) -> Image.Image | np.ndarray:
    """:func:`open_image`; with ``wide``, a 16-bit colour file in sRGB comes back as its
    ``(H, W, 3|4)`` uint16 pixels (:func:`_sixteen_bits`)."""
    if data is None and not path.exists():
        raise InputError(f"{path}: no such file")
    if data is None and path.is_dir():
        raise InputError(f"{path}: is a directory, not an image")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path if data is None else BytesIO(data)) as im:
                _check_pixels(path, im.width, im.height, max_pixels)
                frames = getattr(im, "n_frames", 1)
                sixteen = wide and _is_sixteen_bit_srgb(im)
                im.load()
                image: Image.Image | np.ndarray = ImageOps.exif_transpose(im)
            if sixteen:
                image = _sixteen_bits(image, path if data is None else BytesIO(data))
            else:
                image = _to_srgb(image, path)
        if frames > 1:
            warnings.warn(InputNotice(f"{path}: {frames} frames; using the first"), stacklevel=2)
        for w in caught:  # Pillow's complaints about damaged data become one-line notices
            if issubclass(w.category, (Image.DecompressionBombWarning, DeprecationWarning)):
                continue  # we check the size ourselves; deprecations are not the user's business
            text = str(w.message).strip()
            notice = text if issubclass(w.category, InputNotice) else f"{path}: {text}"
            warnings.warn(InputNotice(notice), stacklevel=2)
        return image
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: refused, image too large to be safe to decode") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except Exception as exc:  # a broken file can make any decoder raise anything
        raise InputError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from None


def _check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(
            f"{path}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
            f"limit of {max_pixels / 1e6:.0f} (raise --max-input-megapixels if you trust it)"
        )


# Pillow's colour modes hold 8 bits a channel: of a 16-bit RGB(A) file it keeps each
# sample's high byte. Decoded again as if of the other byte order, it keeps the low byte;
# the two together are the file's 16 bits, through Pillow's own decoders (PNG filters and
# interlacing, TIFF compressions and predictors).
_NATIVE = "L" if sys.byteorder == "little" else "B"
_LOW_BYTE = {
    f"{mode};16{order}": f"{mode};16{swapped}"
    for mode in ("RGB", "RGBA")
    for order, swapped in (("B", "L"), ("L", "B"), ("N", "B" if _NATIVE == "L" else "L"))
}


def _rawmode(tile: Any) -> Any:
    args = tile[3]
    return args[0] if isinstance(args, tuple) and args else args


def _is_sixteen_bit_srgb(im: Image.Image) -> bool:
    """A 16-bit RGB(A) file whose colours are sRGB (or unlabelled)."""
    if not im.tile or any(_rawmode(t) not in _LOW_BYTE for t in im.tile):
        return False
    icc = im.info.get("icc_profile")
    if not icc:
        return True
    try:
        profile = ImageCms.ImageCmsProfile(BytesIO(icc))
        return "sRGB" in ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False


def _sixteen_bits(high: Image.Image, source: Path | BinaryIO) -> np.ndarray:
    """``high`` (the file as Pillow reads it, upright) with the low bytes read again."""
    with Image.open(source) as im:
        im.tile = [_low_byte_tile(t) for t in im.tile]
        im.load()
        low = np.asarray(ImageOps.exif_transpose(im), dtype=np.uint16)
    return (np.asarray(high, dtype=np.uint16) << 8) | low


def _low_byte_tile(tile: Any) -> Any:
    args = tile[3]
    args = (_LOW_BYTE[args[0]], *args[1:]) if isinstance(args, tuple) else _LOW_BYTE[args]
    return tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)


def _to_srgb(im: Image.Image, path: Path) -> Image.Image:
    """Convert through an embedded ICC profile to sRGB; keep alpha; ignore a broken profile."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        alpha = im.getchannel("A") if im.mode == "RGBA" else None
        base = im.convert("RGB") if alpha is not None else im
        out = ImageCms.profileToProfile(base, source, srgb, outputMode="RGB")
        if out is None:  # pragma: no cover - only with inPlace=True
            return im
        if alpha is not None:
            out.putalpha(alpha)
        return out
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        warnings.warn(InputNotice(f"{path}: ignoring its unreadable colour profile"), stacklevel=3)
        return im


def _from_decoded(image: Image.Image | np.ndarray) -> torch.Tensor:
    return _from_array(image, "image") if isinstance(image, np.ndarray) else _from_pil(image)


def _from_pil(im: Image.Image) -> torch.Tensor:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im.convert("I") if im.mode.startswith("I;16") else im, dtype=np.float32)
        peak = 65535.0 if im.mode != "F" else max(1.0, float(arr.max()))
        return _from_array(arr / peak, "image")
    if im.mode != "RGB":
        rgba = im.convert("RGBA")
        # Transparent areas become white, as on a page: documented in the README.
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba).convert("RGB")
    return _from_array(np.asarray(im), "image")


def _from_array(arr: np.ndarray, what: str) -> torch.Tensor:
    if arr.ndim == 2:
        arr = arr[:, :, None].repeat(3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError(f"{what} of shape {arr.shape}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if arr.shape[2] == 1:
        arr = arr.repeat(3, axis=2)
    if arr.dtype == np.uint8:
        data = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        data = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        data = arr.astype(np.float32)
        if not np.isfinite(data).all() or data.min() < 0 or data.max() > 1:
            raise InputError(f"{what} of floats must lie in [0, 1]")
    else:
        raise InputError(f"{what} of dtype {arr.dtype}: expected uint8, uint16 or float")
    if arr.shape[2] == 4:  # straight alpha over white
        alpha = data[:, :, 3:]
        data = data[:, :, :3] * alpha + (1.0 - alpha)
    tensor = torch.from_numpy(np.ascontiguousarray(data)).permute(2, 0, 1).unsqueeze(0)
    return tensor.contiguous()


def _from_tensor(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
        raise InputError(f"tensor of shape {tuple(t.shape)}: expected (3, H, W) or (1, 3, H, W)")
    t = t.detach().to("cpu", torch.float32)
    if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1:
        raise InputError("tensor values must lie in [0, 1]")
    return t.clone()


def to_pil(image: torch.Tensor) -> Image.Image:
    """A ``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] as an 8-bit RGB PIL image."""
    return Image.fromarray(to_array(image))


def from_array(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 pixels (a decoded video frame) as a ``(1, 3, H, W)`` tensor in
    [0, 1]; :func:`to_array` gives them back."""
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float().div_(255).contiguous()


def to_array(image: torch.Tensor | Image.Image, bit_depth: int = 8) -> np.ndarray:
    """``(H, W, 3)`` pixels, uint8 or uint16 (``bit_depth``): a tensor in [0, 1], shape
    ``(1, 3, H, W)`` or ``(3, H, W)``, rounded from its floats (16 bits keep what 8 cannot);
    a PIL image's 8-bit levels (times 257 for 16 bits: 255 becomes 65535)."""
    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("RGB"))
        return arr if bit_depth == 8 else arr.astype(np.uint16) * 257
    if image.dim() == 4:
        image = image[0]
    peak = (1 << bit_depth) - 1
    levels = image.detach().to("cpu", torch.float32).clamp(0, 1).mul(peak).round()
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return levels.permute(1, 2, 0).contiguous().numpy().astype(dtype)


def output_format(path: str | os.PathLike) -> str:
    """The Pillow format name for an output path, or an InputError naming the known ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise InputError(
            f"{path}: unknown output format {suffix or '(none)'!r}; use one of {known}"
        )
    return FORMATS[suffix].name


def check_output_path(path: str | os.PathLike, options: OutputOptions | None = None) -> Path:
    """Fail before any work if the result (with ``options``) could not be written to ``path``."""
    out = Path(path)
    output_format(out)
    (options or OutputOptions()).check(out.suffix)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; give a file name such as {out / 'result.png'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out}: folder {parent} is not writable")
    return out


def check_output_folder(path: str | os.PathLike) -> Path:
    """Fail before any work if results could not be written into the folder ``path`` (it
    may not exist yet; its parent must); returns it as an absolute path."""
    out = Path(path).absolute()
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if not out.parent.is_dir():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if not os.access(out if out.is_dir() else out.parent, os.W_OK):
        raise InputError(f"{out}: not writable")
    return out


def save_image(
    image: torch.Tensor | Image.Image,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    *,
    options: OutputOptions | None = None,
    exif: dict[int, str] | None = None,
) -> Path:
    """Write atomically (temp file in the same folder, then rename), the format by the
    suffix, with ``options`` (bits a channel, dpi). Every file carries an sRGB ICC profile;
    ``metadata`` (the run's record: :func:`read_metadata`) and ``exif`` (the photo's kept
    tags: :func:`camera_exif`) go in too."""
    out = check_output_path(path, options)
    write_atomic(out, lambda fh: _save(image, out.suffix, metadata, fh, options, exif), shared=True)
    return out


def encode_image(
    image: torch.Tensor | Image.Image,
    suffix: str,
    metadata: dict[str, Any] | None = None,
    *,
    options: OutputOptions | None = None,
    exif: dict[int, str] | None = None,
) -> bytes:
    """The bytes :func:`save_image` would write to a file ending in ``suffix``."""
    buffer = BytesIO()
    _save(image, suffix, metadata, buffer, options, exif)
    return buffer.getvalue()


def _save(
    image: torch.Tensor | Image.Image,
    suffix: str,
    metadata: dict[str, Any] | None,
    fh: BinaryIO,
    options: OutputOptions | None,
    exif: dict[int, str] | None,
) -> None:
    options = options or OutputOptions()
    options.check(suffix)
    tags = encoders.Tags(
        record=json.dumps(metadata, sort_keys=True) if metadata is not None else None,
        software=f"painterly {__version__}",
        dpi=options.dpi,
        camera=exif or {},
    )
    FORMATS[suffix.lower()].write(fh, to_array(image, options.bit_depth), tags)


def camera_exif(source: Any) -> dict[int, str]:
    """The EXIF tags kept from a photo (``encoders.KEPT_EXIF``: camera, dates, artist,
    copyright) when ``source`` is a file's path or bytes; {} for anything else, and for a
    file without them or whose EXIF cannot be read."""
    if not isinstance(source, (str, os.PathLike, bytes)):
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(source) if isinstance(source, bytes) else source) as im:
                return encoders.camera_tags(im.getexif())
    except Exception:  # the photo itself was read already: its EXIF is never a failure
        return {}


def write_atomic(path: Path, write: Callable[[BinaryIO], Any], shared: bool = False) -> None:
    """Write a file so that it is either whole or absent: ``write(fh)`` into a temporary
    file in the same folder, fsync, then rename over ``path``. ``shared`` gives the file
    the usual permissions (mkstemp makes 0600: right for checkpoints, not for pictures)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if shared:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The record a file written by painterly carries (a PNG's text chunk; a TIFF's
    ImageDescription; the one in a JPEG's or WebP's EXIF), or None."""
    with Image.open(path) as im:
        text = getattr(im, "text", None) or {}
        raw = text.get(METADATA_KEY) or im.getexif().get(encoders.DESCRIPTION)
    try:
        record = json.loads(raw) if raw else None
    except (TypeError, ValueError):  # another program's description
        return None
    return record if isinstance(record, dict) else None


class Exclusive:
    """One process at a time holds ``path`` (an advisory lock the OS drops with the process,
    also after kill -9); a second gets an InputError saying ``busy``."""

    def __init__(self, path: Path, busy: str) -> None:
        self.path, self.busy = path, busy

    def __enter__(self) -> Exclusive:
        self._fh = open(self.path, "w")  # noqa: SIM115 - closed in __exit__
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise InputError(self.busy) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()
