"""Device, precision, seed and the memory estimate, resolved in one place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import torch

from painterly import tiles
from painterly.arch import LAYER_INDEX, LAYER_TABLE, channels, downsampling
from painterly.errors import InputError
from painterly.image import fit_size
from painterly.optimize import OPTIMIZERS
from painterly.settings import MIN_SIZE, Settings


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


# Each device by name: whether it is here, and what to say when it is not. ``auto`` takes the
# first one present, in this order (the CPU is always there).
DEVICES: dict[str, tuple[Callable[[], bool], str]] = {
    "cuda": (lambda: cuda_available(), "no CUDA device is available to this torch build"),
    "mps": (lambda: mps_available(), "Apple's MPS backend is not available here"),
    "cpu": (lambda: True, ""),
}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; naming an absent device is an InputError."""
    if name == "auto":
        return torch.device(next(n for n, (present, _) in DEVICES.items() if present()))
    if name not in DEVICES:
        raise InputError(f"device={name!r}: expected auto, {', '.join(DEVICES)}")
    present, absent = DEVICES[name]
    if not present():
        raise InputError(f"device={name}: {absent}")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bfloat16 matrix instructions (AVX512-BF16 or AMX)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def bf16_support(device: torch.device) -> tuple[bool, bool]:
    """(bfloat16 works on ``device``, bfloat16 is fast there): CUDA devices that support it,
    and CPUs, fast only with native bf16 instructions (emulated bf16 is slower than fp32)."""
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        return supported, supported
    return device.type == "cpu", device.type == "cpu" and cpu_has_fast_bf16()


def _forced_bf16(device: torch.device) -> torch.dtype:
    if not bf16_support(device)[0]:
        raise InputError(f"precision=bf16: not available on {device.type}; use fp32")
    return torch.bfloat16


# Each precision by name: the autocast dtype of the VGG passes on a device (None: float32).
PRECISIONS: dict[str, Callable[[torch.device], torch.dtype | None]] = {
    "auto": lambda device: torch.bfloat16 if bf16_support(device)[1] else None,
    "fp32": lambda device: None,
    "bf16": _forced_bf16,
}


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for the VGG passes, or None for plain float32.

    ``auto`` takes bfloat16 only where it is fast; ``bf16`` forces it on the CPU or CUDA;
    ``fp32`` turns it off.
    """
    if name not in PRECISIONS:
        raise InputError(f"precision={name!r}: expected {', '.join(PRECISIONS)}")
    return PRECISIONS[name](device)


def resolve_seed(seed: int | None) -> int:
    """The given seed, or a fresh one (recorded by the caller so the run can be repeated)."""
    return seed if seed is not None else secrets.randbelow(2**31)


def generator(seed: int) -> torch.Generator:
    """A CPU generator: random starts are drawn on the CPU so a seed means the same everywhere."""
    return torch.Generator(device="cpu").manual_seed(seed)


def describe() -> dict[str, str]:
    """Facts for ``painterly info``."""
    return {
        "torch": torch.__version__,
        "device (auto)": str(resolve_device("auto")),
        "cpu threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name(0) if cuda_available() else "not available",
        "mps": "available" if mps_available() else "not available",
    }


# --- memory: estimate before starting, so a run that cannot fit says so instead of dying ----

BASE_BYTES = 450 * 2**20  # torch, the decoded weights and the interpreter, measured on CPU
ACTIVATION_FACTOR = 2.0  # forward outputs kept for backward, plus the backward's own buffers
IMAGE_COPIES = 4  # the image, its gradient, the last good image and one temporary
HEADROOM = 0.9  # never plan to use the last 10% of free memory


def activation_elements(height: int, width: int, deepest: str) -> int:
    """Number of float elements the network's outputs take for one ``height x width`` image."""
    total = 0
    for name, _, depth in LAYER_TABLE[: LAYER_INDEX[deepest] + 1]:
        stride = downsampling(name)
        total += depth * (height // stride) * (width // stride)
    return total


def estimate_bytes(
    height: int, width: int, settings: Settings, on_cpu: bool = True, half: bool = False
) -> int:
    """Peak memory of a run at ``height x width``: activations, optimiser state, images.
    ``half``: the VGG passes run in bfloat16, whose activations take half the bytes."""
    pixels = 3 * height * width
    floats = ACTIVATION_FACTOR * activation_elements(height, width, settings.deepest_layer)
    floats *= 0.5 if half else 1.0
    floats += (OPTIMIZERS[settings.optimizer].state_images + IMAGE_COPIES) * pixels
    style_side = max(1.0, settings.style_scale)
    floats += (
        activation_elements(
            int(height * style_side), int(width * style_side), settings.deepest_layer
        )
        / 2
    )  # a style image's forward pass, without gradients, one layer pair at a time
    return int(4 * floats) + (BASE_BYTES if on_cpu else 0)


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (RAM on the CPU), or None when it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


TILE_SIDES = (2048, 1536, 1024, 768, 512, 384, 256, 192, 128)  # largest first: less halo
MIN_GOOD_TILE = 512  # below this the halos cost more than the history saves
HISTORIES = (50, 20, 10, 5)  # L-BFGS history tried, longest first, at a tiled scale
# Image-sized tensors a tiled evaluation adds: the gradient it sums, the product that hands
# it to autograd, and the whole image's total variation (two differences and their squares).
TILED_COPIES = 5


@dataclass(frozen=True)
class MemoryPlan:
    """How one scale runs in memory: whole (``tile`` None) or in tiles of ``tile`` px, with
    ``history`` L-BFGS pairs (None: the optimiser's own), needing about ``need`` bytes."""

    tile: int | None
    history: int | None
    need: int


def budget_bytes(settings: Settings, device: torch.device) -> float | None:
    """What a run may plan to use: ``--max-memory``, or 90% of what is free, the smaller."""
    return memory_budget(device, settings.max_memory)


def memory_budget(device: torch.device, max_gib: float | None = None) -> float | None:
    """90% of what is free on ``device``, or ``max_gib`` GiB, the smaller (None: unknown)."""
    free = available_bytes(device)
    limits = [HEADROOM * free] if free is not None else []
    if max_gib is not None:
        limits.append(max_gib * 2**30)
    return min(limits) if limits else None


def tiled_bytes(
    height: int, width: int, tile: int, history: int, settings: Settings, on_cpu: bool, half: bool
) -> int:
    """Peak memory of a scale evaluated in tiles (objective.TiledObjective): one tile's
    crop (core and halo) through the network with gradients, and the image-sized tensors:
    the image, its gradient and copies (TILED_COPIES more than whole), the optimiser's
    state with ``history`` pairs, the photo's features at the content layers."""
    margin = tiles.halo(settings.deepest_layer)
    side_h, side_w = min(height, tile + 2 * margin), min(width, tile + 2 * margin)
    floats = ACTIVATION_FACTOR * activation_elements(side_h, side_w, settings.deepest_layer)
    floats *= 0.5 if half else 1.0
    spec = OPTIMIZERS[settings.optimizer]
    state = 2 * history + 2 if spec.history else spec.state_images
    floats += (state + IMAGE_COPIES + TILED_COPIES) * 3 * height * width
    floats += sum(
        channels(n) * (height // downsampling(n)) * (width // downsampling(n))
        for n in settings.content_layers
    )
    return int(4 * floats) + (BASE_BYTES if on_cpu else 0)


def plan_memory(height: int, width: int, settings: Settings, device: torch.device) -> MemoryPlan:
    """Whole when it fits (or ``--tile off``); else, or with ``--tile PX``, tiles: the
    largest side and longest L-BFGS history that fit, preferring tiles of at least
    MIN_GOOD_TILE over a longer history. An InputError naming the largest size that would
    fit when even the smallest plan does not."""
    plan = _plan(height, width, settings, device)
    if plan is not None:
        return plan
    on_cpu, half = device.type == "cpu", resolve_precision(settings.precision, device) is not None
    need = (
        estimate_bytes(height, width, settings, on_cpu, half)
        if settings.tile == 0
        else tiled_bytes(height, width, TILE_SIDES[-1], HISTORIES[-1], settings, on_cpu, half)
    )
    fits = [
        side
        for side in range(MIN_SIZE, max(height, width), 16)
        if _plan(*fit_size(height, width, side), settings, device) is not None
    ]
    largest = f"--size {fits[-1]} is the largest that fits" if fits else "no size fits"
    budget = budget_bytes(settings, device) or 0
    how = "whole (--tile off)" if settings.tile == 0 else "even in tiles"
    raise InputError(
        f"this run needs about {need / 2**30:.1f} GiB {how} but {budget / 2**30:.1f} GiB may "
        f"be used on {device.type}; {largest}; memory also drops with --optimizer adam (no "
        "L-BFGS history), a smaller --style-scale or shallower --style-layers"
    )


def _plan(height: int, width: int, settings: Settings, device: torch.device) -> MemoryPlan | None:
    """:func:`plan_memory`'s choice, or None when nothing fits."""
    on_cpu = device.type == "cpu"
    half = resolve_precision(settings.precision, device) is not None
    whole = estimate_bytes(height, width, settings, on_cpu, half)
    budget = budget_bytes(settings, device)
    spec = OPTIMIZERS[settings.optimizer]
    longest = max(height, width)
    if settings.tile is not None and settings.tile > 0:
        tile = tiles.round_tile(settings.tile)
        sides: tuple[int, ...] = (tile,)
        if tile >= longest:
            return MemoryPlan(None, None, whole) if budget is None or whole <= budget else None
    elif budget is None or whole <= budget:
        return MemoryPlan(None, None, whole)
    elif settings.tile == 0:
        return None
    else:
        sides = tuple(t for t in TILE_SIDES if t < longest) or (tiles.round_tile(longest // 2),)
    histories = [h for h in HISTORIES if h <= spec.history] if spec.history else [0]
    good = [t for t in sides if t >= MIN_GOOD_TILE] or sides[:1]
    for choice_sides, choice_histories in ((good, histories), (sides, histories[-1:])):
        for history in choice_histories:
            for tile in choice_sides:
                need = tiled_bytes(height, width, tile, history, settings, on_cpu, half)
                if budget is None or need <= budget:
                    return MemoryPlan(tile, history if spec.history else None, need)
    return None


def check_memory(height: int, width: int, settings: Settings, device: torch.device) -> None:
    """Raise an InputError if this run would not fit, even in tiles."""
    plan_memory(height, width, settings, device)
