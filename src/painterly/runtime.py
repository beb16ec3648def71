"""Device, seed and threads, resolved in one place."""

from __future__ import annotations

import secrets

import torch

from painterly.settings import InputError


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; naming an absent device is an InputError."""
    if name == "auto":
        if cuda_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not cuda_available():
        raise InputError("device=cuda: no CUDA device is available to this torch build")
    if name == "mps" and not mps_available():
        raise InputError("device=mps: Apple's MPS backend is not available here")
    if name not in ("cpu", "cuda", "mps"):
        raise InputError(f"device={name!r}: expected auto, cpu, cuda or mps")
    return torch.device(name)


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
