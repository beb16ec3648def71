"""The feed-forward engine's file side: training photos, a training run with its record and
checkpoints, and applying a model to an image. The loop itself (train.py) and the network
(transform.py) see only tensors; model files are modelfile.py's.
"""

from __future__ import annotations

import os
import shlex
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from painterly import io, modelfile, onnxrt, openvinort, runtime, transform, weights
from painterly.errors import InputError, InputNotice
from painterly.features import VGGFeatures
from painterly.image import palette, recolour, resize_long_side, with_content_colour
from painterly.inputs import Inputs
from painterly.modelfile import Model
from painterly.settings import APPLY_COLOUR_MODES, Settings, TrainOptions
from painterly.train import Trainer
from painterly.version import __version__

CHECKPOINT_FORMAT = 1
CHECKPOINT_KIND = "train"


def load_photos(folder: str | os.PathLike, max_pixels: int) -> list[tuple[str, torch.Tensor]]:
    """Every readable image in ``folder`` (not recursive, sorted by name), as ``(path,
    image)``; a file that is not a readable image is skipped with an InputNotice."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"--photos {root}: not a folder")
    photos = []
    for path in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            photos.append((str(path), io.load_image(path, max_pixels)))
        except InputError as exc:
            warnings.warn(InputNotice(f"skipped {exc}"), stacklevel=2)
    if not photos:
        raise InputError(f"--photos {root}: no readable images in it")
    return photos


@dataclass(frozen=True)
class Training:
    """A training run, ready: the trainer and what the model file will record."""

    trainer: Trainer
    record: dict[str, Any]
    config: dict[str, Any]  # what a checkpoint needs to rebuild this run


def prepare_training(
    inputs: Inputs,
    settings: Settings,
    options: TrainOptions,
    *,
    command: Sequence[str] = (),
    state: dict[str, Any] | None = None,
) -> Training:
    """Load the styles, the photos and the weights and build the trainer (resumed from
    ``state`` when given). For training, ``inputs.content`` is the folder of photos."""
    styles, photos = inputs, inputs.content
    seed = runtime.resolve_seed(settings.seed)
    settings = settings.replace(seed=seed)
    device = runtime.resolve_device(settings.device)
    autocast = runtime.resolve_precision(settings.precision, device)
    style_images = [(io.load_image(src, settings.max_input_pixels), w) for src, w in styles.styles]
    loaded = load_photos(photos, settings.max_input_pixels)
    source = weights.load(styles.weights_file or settings.weights)
    layers = settings.content_layers + settings.style_layers
    # The loss network runs channels last, the layout oneDNN convolves and pools fastest on
    # a CPU: in the default layout a step spent a third of its time converting between the
    # two (docs/benchmarks.md). The transform network stays in the default layout: torch
    # 2.13's instance normalisation computes wrong gradients when the gradient arriving is
    # channels last (tests/test_train.py pins the network's gradients to the default's).
    # (Measured on the CPU only; other devices keep the layout they were measured in.)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    extractor = VGGFeatures(source, layers, pooling=settings.pooling)
    extractor = extractor.to(device, memory_format=layout)
    trainer = Trainer(
        extractor,
        [image for _, image in loaded],
        style_images,
        settings,
        options,
        device=device,
        autocast=autocast,
        seed=seed,
        state=state,
    )
    record = {
        "painterly": __version__,
        "architecture": options.architecture,
        "styles": [
            {"name": Path(str(src)).name, "sha256": _digest(src), "weight": w}
            for src, w in styles.styles
        ],
        "settings": settings.to_dict(),
        "training": {
            **options.to_dict(),
            "photos": len(loaded),
            "precision": "bf16" if autocast == torch.bfloat16 else "fp32",
            "device": device.type,
        },
        "command": shlex.join(command),
        "palette": palette_record(style_images),
    }
    config = {
        "inputs": inputs.record(),
        "settings": settings.to_dict(),
        "options": options.to_dict(),
        "command": list(command),
    }
    return Training(trainer, record, config)


def save_checkpoint(path: Path, training: Training, output: str) -> None:
    """The trainer's state and the run's configuration, written atomically."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "kind": CHECKPOINT_KIND,
        "output": output,
        "config": training.config,
        "state": training.trainer.state(),
    }
    io.write_atomic(path, lambda fh: torch.save(payload, fh))


def is_training_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a training checkpoint (rather than an optimisation one)."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not ours to judge here: the optimisation loader will say
        return False
    return isinstance(raw, dict) and raw.get("kind") == CHECKPOINT_KIND


def load_checkpoint(path: str | os.PathLike) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(output, config, state)`` of a training checkpoint."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such checkpoint")
    try:
        raw = torch.load(source, map_location="cpu", weights_only=True)
        if raw.get("kind") != CHECKPOINT_KIND or raw.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a training checkpoint")
        return str(raw["output"]), dict(raw["config"]), dict(raw["state"])
    except Exception as exc:
        raise InputError(f"{source}: not a training checkpoint ({type(exc).__name__})") from None


def training_from_checkpoint(path: str | os.PathLike) -> tuple[str, Training]:
    """Rebuild a run from its checkpoint: ``(output, training)`` at the saved step."""
    output, config, state = load_checkpoint(path)
    training = prepare_training(
        Inputs.from_record(config["inputs"]),
        Settings.from_dict(config["settings"]),
        TrainOptions(**config["options"]),
        command=config["command"],
        state=state,
    )
    for key, value in config.items():  # what the front end kept there (e.g. its intervals)
        training.config.setdefault(key, value)
    return output, training


RUNTIMES = ("auto", "torch", "onnxruntime", "openvino")


def load_model(
    name_or_path: str | os.PathLike,
    backend: str = "auto",
    device: str = "auto",
    threads: int | None = None,
) -> Model:
    """A model file (``.safetensors`` or ``.onnx``) or bundled model, on the runtime asked
    for. ``auto``: on the CPU, OpenVINO where it is installed, else ONNX Runtime, else
    PyTorch (the fastest first: docs/fast.md); on a GPU, PyTorch. ``threads``: the graph
    runtime's threads (None: one per core; PyTorch's are set with torch.set_num_threads)."""
    if backend not in RUNTIMES:
        raise InputError(f"--runtime {backend}: expected one of {', '.join(RUNTIMES)}")
    graph = backend if backend in ("onnxruntime", "openvino") else None
    if str(name_or_path).lower().endswith(".onnx"):
        if backend == "torch":
            raise InputError(f"{name_or_path}: an ONNX model runs on onnxruntime or openvino")
        if (graph or _graph_runtime()) == "openvino":
            return openvinort.load(name_or_path, threads)
        return onnxrt.load(name_or_path, threads)
    where = runtime.resolve_device(device)
    if backend == "auto" and where.type == "cpu":
        graph = _graph_runtime()
    model = modelfile.load(name_or_path, "cpu" if graph else where)
    if graph is None:
        return model
    make = openvinort.OpenVinoNet if graph == "openvino" else onnxrt.OnnxNet
    if graph == "openvino":
        openvinort.check()
    try:
        net = make(onnxrt.export_bytes(model), threads)
    except InputError:
        raise
    except Exception as exc:  # the runtime cannot compile or run this graph
        raise InputError(f"{model.source}: {graph} cannot run it ({type(exc).__name__})") from None
    return Model(net, model.record, model.source)


def describe_runtime() -> str:
    """What ``--runtime auto`` runs a model on with the CPU (painterly info)."""
    graph = _graph_runtime()
    if graph == "openvino":
        return openvinort.describe()
    if graph == "onnxruntime":
        return f"onnxruntime {__import__('onnxruntime').__version__}"
    return "torch (painterly[openvino] or [onnx] would be faster)"


def _graph_runtime() -> str | None:
    """The fastest graph runtime installed (docs/fast.md, *Speed*), or None."""
    if openvinort.available():
        return "openvino"
    return "onnxruntime" if onnxrt.available() else None


def apply(
    model: Model,
    image: torch.Tensor,
    preserve_color: str = "none",
    max_memory: float | None = None,
) -> torch.Tensor:
    """``(1, 3, H, W)`` in [0, 1] -> the stylised image; ``luminance`` keeps the photo's
    colours (the network's brightness with the photo's chroma), ``painting`` recolours the
    result with the painting's palette from the model's record (:func:`model_palette`: the
    optimisation engine's default colours, after the network). An image too large for
    memory (what is free, or ``max_memory`` GiB) runs in tiles, with the same result
    (transform.stylise_tiled)."""
    if preserve_color not in APPLY_COLOUR_MODES:
        raise InputError(
            f"--preserve-color {preserve_color}: apply takes {', '.join(APPLY_COLOUR_MODES)}"
        )
    colours = model_palette(model) if preserve_color == "painting" else None
    net = model.net
    device = next(net.parameters()).device if isinstance(net, torch.nn.Module) else "cpu"
    tile = _tile(model, image, torch.device(device), max_memory)
    if tile is None:
        with torch.no_grad():
            out = net(image.to(device)).cpu()
    else:
        if not isinstance(net, transform.TransformNet):  # a graph runtime: its PyTorch twin
            net = modelfile.load(model.source, "cpu").net
            device = "cpu"
        out = transform.stylise_tiled(net, image.to(device), tile).cpu()
    if colours is not None:
        return recolour(out, *colours)
    return with_content_colour(out, image) if preserve_color == "luminance" else out


def palette_record(styles: list[tuple[torch.Tensor, float]]) -> dict[str, Any]:
    """The painting's palette (image.palette) as a model record keeps it: colour mean and
    covariance of RGB in [0, 1], as lists."""
    mean, cov = palette(styles)
    return {"mean": mean.flatten().tolist(), "cov": cov.tolist()}


def model_palette(model: Model) -> tuple[torch.Tensor, torch.Tensor]:
    """The palette a model's record keeps (:func:`palette_record`), as ``(3, 1), (3, 3)``
    float64 tensors; a model without one, or with a malformed one, is refused in one line."""
    entry = model.record.get("palette")
    try:
        mean = torch.tensor(entry["mean"], dtype=torch.float64).view(3, 1)  # type: ignore[index]
        cov = torch.tensor(entry["cov"], dtype=torch.float64).view(3, 3)  # type: ignore[index]
    except (TypeError, KeyError, ValueError, RuntimeError):
        raise InputError(
            f"{model.source}: --preserve-color painting needs the painting's palette, which "
            "this model's record does not hold (trained before it was recorded: train it again)"
        ) from None
    if not (torch.isfinite(mean).all() and torch.isfinite(cov).all()):
        raise InputError(f"{model.source}: the palette in its record is not finite")
    return mean, cov


FAST_TILE = 1024  # a print-size photo through a fast network in tiles of this side


def needs_tiles(model: Model, image: torch.Tensor, max_memory: float | None = None) -> bool:
    """Whether :func:`apply` runs ``image`` through ``model`` in tiles (on the CPU)."""
    return _tile(model, image, torch.device("cpu"), max_memory) is not None


def _tile(
    model: Model, image: torch.Tensor, device: torch.device, max_memory: float | None
) -> int | None:
    """None (the whole image at once) when it fits in memory, else FAST_TILE: the network's
    largest maps are ``outer`` channels at the full size (or its head's, if wider), twice,
    beside the image in and out (transform.TransformNet). For a ``half_out`` network, whose
    full-size maps are its logits and its head's, that is an upper bound."""
    if max(image.shape[-2:]) <= FAST_TILE:  # every video frame: no need to ask the system
        return None
    budget = runtime.memory_budget(device, max_memory)
    net = model.record.get("net", {})
    wide = max(int(net.get("outer", 32)), int(net.get("head", 0)))
    need = 4 * image.shape[-2] * image.shape[-1] * (2 * wide + 6)
    if budget is None or need <= budget:
        return None
    if str(model.source).lower().endswith(".onnx"):
        raise InputError(
            f"{model.source}: a {image.shape[-1]}x{image.shape[-2]} image needs about "
            f"{need / 2**30:.1f} GiB through an .onnx model, which cannot run in tiles; use "
            "its .safetensors model (tiles with the whole image's statistics) or a smaller "
            "--size"
        )
    return FAST_TILE


def apply_record(model: Model, content: str) -> dict[str, Any]:
    """What an applied model's output carries in its metadata."""
    return {
        "painterly": __version__,
        "model": model.name,
        "model_record": model.record,
        "content": content,
    }


def fit(image: torch.Tensor, size: int | None) -> torch.Tensor:
    """The image with its long side at ``size`` (None: as it is)."""
    return image if size is None else resize_long_side(image, size)


def _digest(source: Any) -> str | None:
    if isinstance(source, (str, os.PathLike)):
        return io.sha256_file(Path(source))
    return None


__all__ = [
    "Training",
    "apply",
    "apply_record",
    "is_training_checkpoint",
    "load_checkpoint",
    "load_photos",
    "prepare_training",
    "save_checkpoint",
    "training_from_checkpoint",
]
