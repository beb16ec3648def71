"""Side-by-side benchmark against the peer pastiche, on this machine, in one run:

    .venv/bin/python bench/run.py            # what `make bench` runs (about 25 minutes)
    .venv/bin/python bench/run.py --parts step,startup --no-write   # a quick look

Parts (all by default):
- ``race``: painterly with its defaults and pastiche with ``--peer-steps`` L-BFGS steps, both
  at ``--size``, as fresh processes through their own command lines (start-up and weight
  loading included), interleaved; median wall time, peak RSS, and both results scored by
  the fixed evaluation (bench/evaluate.py).
- ``trajectory``: one more painterly run that saves its image every few steps; the first
  time it is at least as close to the photo and to the painting as pastiche's final result
  is painterly's *time to quality*; divided by pastiche's wall time, the headline ratio.
- ``step``: the measured matmul peak (fp32, bf16) and one VGG19 forward + backward at the
  race's image size against it.
- ``scaling``: time per step and peak RSS for one scale of 256, 512, 1024 and 2048 px.
- ``startup``: ``painterly --help`` and the weight load.

Appends a dated section to docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PARTS = ("race", "trajectory", "step", "scaling", "startup")


def painterly_cmd(content: str, style: str, size: int, out: str) -> list[str]:
    return [str(BIN / "painterly"), content, style, "-o", out, "--size", str(size), "-q"]


def pastiche_cmd(content: str, style: str, size: int, steps: int, out: str) -> list[str]:
    return [
        *(str(BIN / "pastiche"), "--content", content, "--styles", style, "--output", out),
        *("--size", str(size), "--num-steps", str(steps), "--seed", "0", "--device", "cpu"),
        "--no-verbose",
    ]


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process, which must succeed."""
    import perf

    child = perf.run_child(cmd)
    if child.code != 0:
        raise SystemExit(f"failed: {shlex.join(cmd)}\n{child.err}")
    return child.wall, child.rss


def race(args: argparse.Namespace, evaluate, tmp: str) -> tuple[list[str], dict]:
    cmds = {
        "painterly (defaults)": (
            painterly_cmd(args.content, args.style, args.size, f"{tmp}/p.png"),
            args.repeats,
            f"{tmp}/p.png",
        ),
        f"pastiche ({args.peer_steps} steps)": (
            pastiche_cmd(args.content, args.style, args.size, args.peer_steps, f"{tmp}/q.png"),
            args.peer_repeats,
            f"{tmp}/q.png",
        ),
    }
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in cmds}
    for i in range(max(args.repeats, args.peer_repeats)):  # interleaved: noise hits both
        for name, (cmd, repeats, _) in cmds.items():
            if i < repeats:
                runs[name].append(timed(cmd))
                print(f"  {name}: {runs[name][-1][0]:.1f} s", flush=True)
    lines = [
        "| method | wall s (median) | peak RSS MiB | content dist. | style dist. | runs (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    result = {}
    for name, (_, _, out) in cmds.items():
        scores = evaluate(Path(out))  # seed 0 every run: the last image stands for all
        walls = [w for w, _ in runs[name]]
        wall, rss = statistics.median(walls), max(r for _, r in runs[name])
        result[name] = {"wall": wall, **scores}
        lines.append(
            f"| {name} | {wall:.1f} | {rss / 2**20:.0f} | {scores['content']:.4f} "
            f"| {scores['style']:.4f} | {', '.join(f'{w:.1f}' for w in walls)} |"
        )
    ours, theirs = result.values()
    lines += [
        "",
        f"Wall-time ratio painterly / pastiche: **{ours['wall'] / theirs['wall']:.3f}**; "
        f"painterly's result is {'closer' if ours['content'] <= theirs['content'] else 'further'}"
        f" to the photo and {'closer' if ours['style'] <= theirs['style'] else 'further'} "
        "to the painting.",
    ]
    return lines, {"peer": theirs}


def trajectory(args: argparse.Namespace, evaluate, tmp: str, peer: dict) -> list[str]:
    out = Path(tmp) / "trajectory"
    cmd = [sys.executable, str(ROOT / "bench" / "trajectory.py"), args.content, args.style]
    subprocess.run([*cmd, str(out), "--every", "5", "--set", f"size={args.size}"], check=True)
    rows = json.loads((out / "trajectory.json").read_text())
    reached = None
    for row in rows:
        scores = evaluate(Path(row["path"]), at_size=args.size)
        row.update(scores)
        if (
            reached is None
            and scores["content"] <= peer["content"]
            and (scores["style"] <= peer["style"])
        ):
            reached = row
    last = rows[-1]
    lines = [
        f"One more painterly run saving its image every 5 steps: it finished in "
        f"{last['seconds']:.1f} s (snapshot time subtracted) at content {last['content']:.4f}, "
        f"style {last['style']:.4f}.",
    ]
    if reached is None:
        lines.append("It never reached pastiche's distances on both measures.")
    else:
        lines.append(
            f"It first reached pastiche's final distances (content {peer['content']:.4f}, style "
            f"{peer['style']:.4f}) at step {reached['step']}, after {reached['seconds']:.1f} s: "
            f"time-to-quality ratio **{reached['seconds'] / peer['wall']:.3f}** of pastiche's "
            f"{peer['wall']:.1f} s."
        )
    sample = rows[:: max(1, len(rows) // 12)]
    if sample[-1] is not last:
        sample.append(last)
    lines += ["", "| step | seconds | content dist. | style dist. |", "| --- | --- | --- | --- |"]
    for row in sample:
        lines.append(
            f"| {row['step']} | {row['seconds']:.1f} | {row['content']:.4f} | {row['style']:.4f} |"
        )
    return lines


def step(args: argparse.Namespace, hw: tuple[int, int]) -> list[str]:
    import perf
    import torch

    h, w = hw
    flops = perf.vgg_flops(h, w)
    lines = [
        f"One VGG19 forward (to relu5_1) + backward to the image at {w}x{h}: "
        f"{flops / 1e9:.0f} GFLOP (convolutions only).",
        "",
        "| precision | matmul peak GFLOP/s | step s (median of 7) | step GFLOP/s | time / ideal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, dtype in perf.DTYPES.items():
        if name == "bf16" and not _fast_bf16():
            lines.append("| bf16 | - | - | - | not native on this CPU |")
            continue
        peak = perf.matmul_peak(dtype)
        seconds = perf.vgg_step_seconds(h, w, name)
        ideal = flops / peak
        lines.append(
            f"| {name} | {peak / 1e9:.0f} | {seconds:.3f} | {flops / seconds / 1e9:.0f} "
            f"| {seconds / ideal:.2f} |"
        )
    del torch
    return lines


def _fast_bf16() -> bool:
    from painterly import runtime

    return runtime.cpu_has_fast_bf16()


def scaling(args: argparse.Namespace) -> list[str]:
    import perf

    lines = [
        f"One scale at each size, {args.scaling_steps} steps, painterly defaults otherwise "
        "(fresh process each):",
        "",
        f"| size | image | s / step | peak RSS MiB ({args.scaling_steps} steps) "
        "| L-BFGS history MiB (all 50 pairs, computed) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for size in args.scaling_sizes:
        row = perf.scaling_row(args.content, args.style, size, args.scaling_steps, "auto")
        if "error" in row:
            lines.append(f"| {size} | - | - | {row['error']} | - |")
            continue
        h, w = row["hw"]
        history = 2 * 50 * 3 * h * w * 4  # float32 step and gradient differences
        lines.append(
            f"| {size} | {w}x{h} | {row['per_step']:.3f} | {row['rss'] / 2**20:.0f} "
            f"| {history / 2**20:.0f} |"
        )
        print(lines[-1], flush=True)
    return lines


def startup() -> list[str]:
    helps = [timed([str(BIN / "painterly"), "--help"])[0] for _ in range(5)]
    probe = (
        "import time; t = time.perf_counter(); from painterly import weights; "
        "weights.load('caffe'); print(time.perf_counter() - t)"
    )
    loads = [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return [
        f"`painterly --help`: {statistics.median(helps):.2f} s (median of 5, whole process). "
        f"Weight load (import of torch included, fresh process): "
        f"{statistics.median(loads):.2f} s (median of 5).",
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", default=str(ROOT / "examples" / "tubingen.jpg"))
    p.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3, help="painterly runs in the race")
    p.add_argument("--peer-steps", type=int, default=500)
    p.add_argument(
        "--peer-repeats",
        type=int,
        default=1,
        help="pastiche runs (one 500-step run averages its own noise over ~10 min)",
    )
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--scaling-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--scaling-steps", type=int, default=4)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if "trajectory" in parts and "race" not in parts:
        p.error("trajectory needs the race (pastiche's result is its target)")

    sys.path.insert(0, str(ROOT / "bench"))
    import perf
    import torch
    from evaluate import Evaluator

    from painterly import io
    from painterly.image import fit_size

    content = io.load_image(args.content)
    hw = fit_size(content.shape[-2], content.shape[-1], args.size)
    evaluate = Evaluator(Path(args.content), Path(args.style))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\n## {stamp}: `python bench/run.py {' '.join(sys.argv[1:])}`\n",
        f"Machine: {perf.cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}; "
        f"content {Path(args.content).name}, style {Path(args.style).name}, {args.size} px "
        f"({hw[1]}x{hw[0]}).",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if "race" in parts:
            print("race", flush=True)
            section, found = race(args, evaluate, tmp)
            lines += ["", "### Race", "", *section]
            if "trajectory" in parts:
                print("trajectory", flush=True)
                lines += [
                    "",
                    "### Time to quality",
                    "",
                    *trajectory(args, evaluate, tmp, found["peer"]),
                ]
    if "step" in parts:
        print("step", flush=True)
        lines += ["", "### Per-step efficiency", "", *step(args, hw)]
    if "scaling" in parts:
        print("scaling", flush=True)
        lines += ["", "### Scaling", "", *scaling(args)]
    if "startup" in parts:
        print("startup", flush=True)
        lines += ["", "### Start-up", "", *startup()]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with open(ROOT / "docs" / "benchmarks.md", "a") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
