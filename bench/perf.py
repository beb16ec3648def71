"""Machine-level measurements for bench/run.py: the matmul peak, the cost of one VGG19
forward + backward against that peak, and how time per step and memory grow with size.

Each function returns plain numbers; run.py prints them and writes docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from painterly.arch import LAYER_INDEX, LAYER_TABLE, downsampling

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> float:
    """The machine's measured matrix-multiply throughput in FLOP/s: the best of ``repeats``
    ``n x n`` products (best, not median: a peak is what the hardware can do)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)  # warm-up: packs, thread pool
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - began)
    return 2 * n**3 / best


def vgg_flops(height: int, width: int, deepest: str = "relu5_1") -> float:
    """FLOPs of one VGG19 forward up to ``deepest`` plus the backward to the input (no weight
    gradients: the same convolutions again, transposed). ReLU and pooling are left out."""
    total = 0.0
    in_channels = 3
    for name, kind, channels in LAYER_TABLE[: LAYER_INDEX[deepest] + 1]:
        if kind == "conv":
            stride = downsampling(name)
            total += 2 * 9 * in_channels * channels * (height // stride) * (width // stride)
            in_channels = channels
    return 2 * total


def vgg_step_seconds(
    height: int, width: int, precision: str, repeats: int = 7, deepest: str = "relu5_1"
) -> float:
    """Median wall time of one forward + input backward of the extractor, as a step runs it
    (autocast for bf16, float32 image and loss)."""
    from painterly import runtime, weights
    from painterly.features import VGGFeatures

    extractor = VGGFeatures(weights.load("caffe"), (deepest,))
    autocast = runtime.resolve_precision(precision, torch.device("cpu"))
    image = torch.rand(1, 3, height, width, requires_grad=True)
    times = []
    for i in range(repeats + 1):
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            out = extractor(image)[deepest]
        out.float().square().mean().backward()
        if i:  # the first pass warms up oneDNN's kernels
            times.append(time.perf_counter() - began)
        image.grad = None
    return statistics.median(times)


SCALING_SCRIPT = r"""
import json, sys, time
import painterly
size, steps, precision = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ticks = []
for p in painterly.iterate(sys.argv[1], sys.argv[2], size=size, start_size=size, steps=steps,
                           seed=0, precision=precision):
    ticks.append(p.elapsed)
print(json.dumps({"ticks": ticks, "hw": list(p.size)}))
"""


@dataclass(frozen=True)
class Child:
    """A finished child process: wall seconds, peak RSS in bytes, exit code and output."""

    wall: float
    rss: int
    code: int
    out: str
    err: str


def run_child(cmd: list[str]) -> Child:
    """Run ``cmd`` to its end and measure it. Its output goes to temporary files, not pipes,
    so a chatty child cannot block on a full pipe while we wait for its resource usage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        return Child(
            wall,
            usage.ru_maxrss * 1024,
            os.waitstatus_to_exitcode(status),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def scaling_row(content: str, style: str, size: int, steps: int, precision: str) -> dict:
    """Time per step (median over the steps after the first) and the process's peak RSS for
    one scale of ``size`` px, in a fresh process."""
    child = run_child(
        [sys.executable, "-c", SCALING_SCRIPT, content, style, str(size), str(steps), precision]
    )
    if child.code != 0:
        err = child.err.strip()
        return {"size": size, "error": err.splitlines()[-1] if err else "failed"}
    result = json.loads(child.out.strip().splitlines()[-1])
    ticks = result["ticks"]
    per_step = statistics.median(b - a for a, b in zip(ticks, ticks[1:], strict=False))
    h, w = result["hw"]
    return {"size": size, "hw": (h, w), "per_step": per_step, "rss": child.rss}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"
