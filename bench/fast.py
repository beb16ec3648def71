"""The feed-forward engine's speed on this machine, in one run:

    .venv/bin/python bench/fast.py                 # appends to docs/benchmarks.md
    .venv/bin/python bench/fast.py --no-write      # a quick look

Frames per second, in process, of the networks (rt; rt-second, the design the models of
2026-12-02 were trained in, for the ratio in the same run; rt-headless, rt without its
full-size head (the design of the models of 2026-12-03); rt-photo-head, rt with the head of
the models of the morning of 2026-12-05 (reading the photo and the logits); rt-noise, rt
with ``--noise 8``; hq with ``--nets rt,rt-second,hq``: a run with it would take nearly an
hour here) on both runtimes (PyTorch in fp32 and with
bf16 autocast, ONNX Runtime in fp32 and OpenVINO in its default precision (bf16 where the
CPU has it natively): frame after frame, and in two lanes, two frames at a time, each lane
with half the cores, as ``GraphNet.stream`` paints a clip) at
640x360, 1280x720 and 1920x1080: the median of ``--repeats`` timings of ``--frames`` frames
each (after warm-up), the networks interleaved (each repeat times every network, runtime
and size in turn). The weights are random: speed does not depend on them. Then, in the same
run, the optimisation engine's default at 512 px as a fresh process (start-up included, as a
user meets it), and one frame of the real-time network at 512 px through ``painterly
apply`` (start-up included), for the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SIZES = ((640, 360), (1280, 720), (1920, 1080))


def seconds(run, image, frames: int) -> float:
    """The time ``run`` takes to paint ``frames`` frames (``run(frames_iterable)`` yields
    them)."""
    time.sleep(0.5)  # ONNX Runtime's threads spin a while after a run: let them settle
    began = time.perf_counter()
    for _ in run(image for _ in range(frames)):
        pass
    return time.perf_counter() - began


def one_by_one(net):
    """A runner that paints frame after frame."""
    return lambda frames: (net(frame) for frame in frames)


def spec(name: str):
    """A network by name: the architectures, rt-second (rt's widths in the second design:
    pixel unshuffles in, reflection padding everywhere, the last convolution at full size,
    no head), rt-headless (rt without its full-size head), rt-photo-head (rt with the head
    of the morning of 2026-12-05, which read the photo beside the logits) and rt-noise (rt
    with the 8 noise channels of ``painterly train --noise 8``)."""
    from painterly.transform import ARCHITECTURES

    if name == "rt-noise":
        return dataclasses.replace(ARCHITECTURES["rt"], noise=8)
    if name == "rt-headless":
        return dataclasses.replace(ARCHITECTURES["rt"], head=0)
    if name == "rt-photo-head":
        return dataclasses.replace(ARCHITECTURES["rt"], head_input="photo")
    if name == "rt-second":
        return dataclasses.replace(
            ARCHITECTURES["rt"], strided=False, half_out=False, padding="reflect", head=0
        )
    return ARCHITECTURES[name]


def runners(arch: str) -> dict[str, object]:
    from painterly import modelfile, onnxrt, openvinort
    from painterly.transform import build

    torch.manual_seed(0)
    net = build(spec(arch)).eval().requires_grad_(False)
    model = modelfile.Model(net, {}, arch)

    def eager(image):
        with torch.no_grad():
            return net(image)

    def bf16(image):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return net(image)

    out = {"torch fp32": one_by_one(eager), "torch bf16": one_by_one(bf16)}
    if onnxrt.available():
        ort = onnxrt.OnnxNet(onnxrt.export_bytes(model))
        out["onnxruntime fp32"] = one_by_one(ort)
        out["onnxruntime fp32, 2 lanes"] = lambda frames: ort.stream(frames, lanes=2)
    if openvinort.available():
        ov = openvinort.OpenVinoNet(onnxrt.export_bytes(model))
        out[f"openvino {ov.precision}"] = one_by_one(ov)
        out[f"openvino {ov.precision}, 2 lanes"] = lambda frames: ov.stream(frames, lanes=2)
        if ov.precision != "f32":  # the same arithmetic as ONNX Runtime's, for the ratio
            ov32 = openvinort.OpenVinoNet(onnxrt.export_bytes(model), precision="f32")
            out["openvino f32"] = one_by_one(ov32)
    return out


def wall(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--nets", default="rt,rt-second", help="comma-separated; hq is the wide one")
    p.add_argument("--sizes", type=int, default=len(SIZES), help="the first N of the sizes")
    args = p.parse_args()
    sizes = SIZES[: args.sizes]
    nets = {arch: runners(arch) for arch in args.nets.split(",")}
    images = {size: torch.rand(1, 3, size[1], size[0]) for size in sizes}

    def frames(arch: str, size: tuple[int, int]) -> int:
        n = max(5, args.frames * 640 * 360 // (size[0] * size[1]))
        return max(3, n // 8) if arch == "hq" else n

    # interleaved: each repeat times every network, runtime and size once, so that a noisy
    # spell on this shared machine falls on all of them alike
    rates: dict[tuple, list[float]] = {}
    for image in images.values():
        for runs in nets.values():
            for run in runs.values():
                seconds(run, image, 3)
    for repeat in range(args.repeats):
        for size, image in images.items():
            for arch, runs in nets.items():
                for name, run in runs.items():
                    n = frames(arch, size)
                    rates.setdefault((arch, name, size), []).append(n / seconds(run, image, n))
        print(f"repeat {repeat + 1} of {args.repeats} done", flush=True)
    rows = ["| network | runtime | " + " | ".join(f"{w}x{h}" for w, h in sizes) + " |"]
    rows.append("| --- | --- |" + " --- |" * len(sizes))
    for arch, runs in nets.items():
        for name in runs:
            cells = [f"{statistics.median(rates[arch, name, size]):.1f}" for size in sizes]
            rows.append(f"| {arch} | {name} | " + " | ".join(cells) + " |")
    print("\n".join(rows), flush=True)
    ratio = optimisation_ratio()
    text = report(rows, ratio, args)
    print(text)
    if not args.no_write:
        with open(ROOT / "docs" / "benchmarks.md", "a") as fh:
            fh.write("\n" + text)
    return 0


def optimisation_ratio() -> str:
    """The optimisation engine at 512 px against one rt frame through 'painterly apply'."""
    from painterly import modelfile
    from painterly.transform import build

    content = str(ROOT / "examples" / "tubingen.jpg")
    style = str(ROOT / "examples" / "starry_night.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = modelfile.save(Path(tmp) / "rt.safetensors", build("rt"), {"styles": []})
        optimise = wall([str(BIN / "painterly"), content, style, "-o", f"{tmp}/o.png", "-q"])
        apply = [str(BIN / "painterly"), "apply", str(model), content, "-o", f"{tmp}/a.png"]
        applied = statistics.median(wall([*apply, "--size", "512", "-q"]) for _ in range(3))
    return (
        f"Optimisation engine, defaults, 512 px, whole command: {optimise:.1f} s. "
        f"`painterly apply` with the rt network at 512 px, whole command (start-up, model "
        f"load, export to the graph runtime, one frame): {applied:.2f} s (median of 3). "
        f"Ratio {optimise / applied:.0f}x."
    )


def report(rows: list[str], ratio: str, args: argparse.Namespace) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    from perf import cpu_model

    cpu = f"{cpu_model()}, {platform.machine()}"
    return "\n".join(
        [
            f"## {when}: `python bench/fast.py` (feed-forward networks)",
            "",
            f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}, frames per second in "
            f"process, the networks interleaved, median of {args.repeats} timings of up to "
            f"{args.frames} frames "
            "(fewer at larger sizes and for hq), after warm-up; batch of one frame (in 2 "
            "lanes: two single frames at a time, each with half the cores).",
            "",
            *rows,
            "",
            ratio,
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
