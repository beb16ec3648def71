"""Files <-> tensors: the only module that imports PIL or touches image files.

Inside the package an image is a float32 RGB tensor ``(1, 3, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from painterly.settings import InputError

ImageSource = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

# Output formats by file extension, with the save options that suit a finished picture.
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95, "method": 6}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
}
METADATA_KEY = "painterly"


def load_image(source: ImageSource) -> torch.Tensor:
    """Read a path, PIL image, array or tensor as RGB float32, shape ``(1, 3, H, W)``.

    Alpha is composited on white; EXIF orientation is applied; arrays may be ``(H, W)``,
    ``(H, W, 3|4)`` of uint8, uint16 or floats in [0, 1].
    """
    if isinstance(source, torch.Tensor):
        return _from_tensor(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, "array")
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, (str, os.PathLike)):
        return _from_pil(open_image(Path(source)))
    raise InputError(f"cannot read an image from a {type(source).__name__}")


def open_image(path: Path) -> Image.Image:
    """Open and fully decode an image file, turning every failure into one clear InputError."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image")
    try:
        with Image.open(path) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: refused, image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot decode image ({exc})") from None


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
    if image.dim() == 4:
        image = image[0]
    arr = image.detach().to("cpu", torch.float32).clamp(0, 1).mul(255).round().byte()
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), "RGB")


def output_format(path: str | os.PathLike) -> str:
    """The Pillow format name for an output path, or an InputError naming the known ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise InputError(
            f"{path}: unknown output format {suffix or '(none)'!r}; use one of {known}"
        )
    return FORMATS[suffix][0]


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail before any work if the result could not be written to ``path``."""
    out = Path(path)
    output_format(out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; give a file name such as {out / 'result.png'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out}: folder {parent} is not writable")
    return out


def save_image(
    image: torch.Tensor | Image.Image,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (temp file in the same folder, then rename); PNGs carry ``metadata``."""
    out = check_output_path(path)
    fmt, options = FORMATS[out.suffix.lower()]
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    options = dict(options)
    if fmt == "PNG" and metadata is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(METADATA_KEY, json.dumps(metadata, sort_keys=True))
        info.add_text("Software", f"painterly {metadata.get('version', '')}".strip())
        options["pnginfo"] = info
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pil.save(fh, format=fmt, **options)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


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
    """The settings a PNG written by painterly carries, or None."""
    with Image.open(path) as im:
        text = getattr(im, "text", {}) or {}
        raw = text.get(METADATA_KEY)
    return json.loads(raw) if raw else None
