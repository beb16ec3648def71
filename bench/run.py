"""Side-by-side benchmark: painterly (fp32 and bf16) against the peer pastiche, one machine,
one run, same inputs, sizes and step counts; repeated, medians reported.

    .venv/bin/python bench/run.py --size 384 --steps 150 --repeats 3

Each method runs as a fresh process through its own CLI (start-up and weight loading
included in the wall time); peak RSS is that process's own. Results are scored by
bench/evaluate.py. Appends a dated section to docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def methods(content: str, style: str, size: int, steps: int, out: str) -> dict[str, list[str]]:
    common = [content, style, "-o", out, "--size", str(size), "--steps", str(steps), "--seed", "0"]
    return {
        "painterly fp32": [str(BIN / "painterly"), *common, "-q", "--precision", "fp32"],
        "painterly bf16": [str(BIN / "painterly"), *common, "-q", "--precision", "bf16"],
        "pastiche": [
            str(BIN / "pastiche"),
            "--content",
            content,
            "--styles",
            style,
            "--output",
            out,
            "--size",
            str(size),
            "--num-steps",
            str(steps),
            "--seed",
            "0",
            "--device",
            "cpu",
            "--no-verbose",
        ],
    }


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {shlex.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss * 1024


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", default=str(ROOT / "examples" / "tubingen.jpg"))
    p.add_argument("--style", default=str(ROOT / "examples" / "starry_night.jpg"))
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT / "bench"))
    import torch
    from evaluate import Evaluator

    evaluate = Evaluator(Path(args.content), Path(args.style))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        cmds = {}
        for i, name in enumerate(methods(args.content, args.style, args.size, args.steps, "")):
            outs[name] = f"{tmp}/{i}.png"
            cmds[name] = methods(args.content, args.style, args.size, args.steps, outs[name])[name]
        runs: dict[str, list[tuple[float, int]]] = {name: [] for name in cmds}
        for _ in range(args.repeats):  # interleaved, so machine noise hits every method alike
            for name, cmd in cmds.items():
                runs[name].append(timed(cmd))
        for name in cmds:
            scores = evaluate(Path(outs[name]))  # seed 0 every run: the last image stands for all
            walls = [r[0] for r in runs[name]]
            wall, rss = statistics.median(walls), max(r[1] for r in runs[name])
            rows.append((name, wall, wall / args.steps, rss, scores, walls))
            print(
                f"{name:16} {wall:7.1f} s  {rss / 2**20:6.0f} MiB  content {scores['content']:.4f}"
                f"  style {scores['style']:.4f}  runs {[round(w, 1) for w in walls]}",
                flush=True,
            )

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    lines = [
        f"\n## {stamp}: {args.size} px, {args.steps} steps, median of {args.repeats}\n",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}; "
        f"command: `{command}`; content {Path(args.content).name}, "
        f"style {Path(args.style).name}.\n",
        "| method | wall s (median) | s / step | peak RSS MiB | content dist. | style dist. "
        "| runs (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, wall, per_step, rss, s, runs in rows:
        lines.append(
            f"| {name} | {wall:.1f} | {per_step:.3f} | {rss / 2**20:.0f} | {s['content']:.4f} "
            f"| {s['style']:.4f} | {', '.join(f'{r:.1f}' for r in runs)} |"
        )
    base = dict((r[0], r[1]) for r in rows)["pastiche"]
    lines.append("")
    lines.append(
        "Wall-time ratio to pastiche: "
        + ", ".join(f"{name} {wall / base:.2f}" for name, wall, *_ in rows if name != "pastiche")
        + "."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        with open(ROOT / "docs" / "benchmarks.md", "a") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
