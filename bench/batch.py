"""Batch throughput on this machine, locally and through Ray, for both engines:

    .venv/bin/python bench/batch.py               # about 15 minutes; appends to docs/benchmarks.md
    .venv/bin/python bench/batch.py --parts tiny --no-write

Parts:
- ``fast``: the bundled starry_night model (rt network) on the 24 Kodak photos at 512 px,
  copied to ``--fast-items`` files; in this process, a pool of 2 processes, and Ray with 1
  worker (2 CPUs) and 2 workers (1 CPU each). Median of ``--repeats`` runs.
- ``optimise``: the optimisation engine's defaults at 512 px (starry_night.jpg) on
  ``--optimise-items`` photos; in this process, and Ray with 1 and 2 workers. One run each.
- ``tiny``: 1,000 photos of 64 px, fast engine, through the command line as a child process
  (in this process, and Ray with 2 workers): wall time, the driver's peak RSS, the manifest's
  size; then the same command again, when every item is up to date.

Items/s are given two ways: over the whole run (worker start-up and model load included)
and in steady state (from the first result to the last), which is what a long batch sees.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "photos"
STYLE = ROOT / "examples" / "starry_night.jpg"
PARTS = ("fast", "optimise", "tiny")
RSS_SCRIPT = (
    "import resource, sys; from painterly import cli; code = cli.main(sys.argv[1:]); "
    "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def copies(folder: Path, count: int, side: int | None = None) -> Path:
    """``count`` photo files from the Kodak set (repeated under new names), optionally
    resized to ``side`` px on the long side."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(PHOTOS.glob("*.png"))
    for n in range(count):
        target = folder / f"{n:05d}_{sources[n % len(sources)].name}"
        if side is None:
            shutil.copyfile(sources[n % len(sources)], target)
        else:
            with Image.open(sources[n % len(sources)]) as im:
                im.thumbnail((side, side))
                im.save(target)
    return folder


def engine_for(kind: str):
    import hashlib

    from painterly import modelfile
    from painterly.settings import Settings
    from painterly.workers import Engine, Style

    path = modelfile.resolve("starry_night") if kind == "fast" else STYLE
    data = path.read_bytes()
    style = Style(path.stem, path.name, data, hashlib.sha256(data).hexdigest())
    settings = Settings().replace(size=512)
    return Engine(kind, (style,), settings.to_dict(), 512 if kind == "fast" else None)


def executor_for(name: str, engine):
    from painterly import batch

    if name == "local":
        return batch.InProcess(engine)
    if name == "local, 2 processes":
        return batch.ProcessPool(engine, 2)
    from painterly.cluster import RayExecutor

    return RayExecutor(engine, "auto", workers=int(name.split()[1]))


def one_run(kind: str, executor_name: str, photos: Path, out: Path) -> tuple[float, float]:
    """(items/s over the whole run, items/s in steady state) of one batch."""
    from painterly import batch

    shutil.rmtree(out, ignore_errors=True)
    engine = engine_for(kind)
    sources = batch.find_inputs([str(photos)])
    items = batch.plan(sources, [engine.styles[0].name], batch.DEFAULT_NAME)
    ticks: list[float] = []
    began = time.perf_counter()
    summary = batch.run(
        items,
        engine,
        out,
        lambda: executor_for(executor_name, engine),
        on_result=lambda i, r: ticks.append(time.perf_counter()),
    )
    total = time.perf_counter() - began
    assert summary.done == len(items) and not summary.failed, summary
    steady = (len(ticks) - 1) / (ticks[-1] - ticks[0]) if len(ticks) > 1 else float("nan")
    return len(items) / total, steady


def throughput(kind: str, names: list[str], count: int, repeats: int, work: Path) -> list[str]:
    photos = copies(work / f"{kind}_photos", count)
    rows = []
    local_steady = None
    for name in names:
        runs = [one_run(kind, name, photos, work / f"{kind}_out") for _ in range(repeats)]
        whole = statistics.median(r[0] for r in runs)
        steady = statistics.median(r[1] for r in runs)
        local_steady = local_steady or steady
        print(f"{kind} {name}: {runs}", flush=True)
        rows.append(
            f"| {kind} | {name} | {count} | {repeats} | {whole:.3g} | {steady:.3g} | "
            f"{steady / local_steady:.2f} |"
        )
    return rows


def tiny(work: Path) -> list[str]:
    photos = copies(work / "tiny_photos", 1000, side=64)
    rows = []
    for label, extra in (("local", []), ("ray, 2 workers", ["--ray", "auto", "--workers", "2"])):
        out = work / f"tiny_out_{len(rows)}"
        argv = ["batch", str(photos), "-o", str(out), "--model", "starry_night", "-q", *extra]
        for attempt in ("first run", "rerun (all up to date)"):
            began = time.perf_counter()
            child = subprocess.run(
                [sys.executable, "-c", RSS_SCRIPT, *argv], capture_output=True, text=True
            )
            wall = time.perf_counter() - began
            if child.returncode != 0:
                raise SystemExit(child.stderr)
            rss = int(child.stderr.split("maxrss")[-1].split()[0]) / 1024
            manifest = out / "manifest.jsonl"
            lines = manifest.read_text().count("\n")
            rows.append(
                f"| {label} | {attempt} | {wall:.1f} s | {1000 / wall:.0f} | {rss:.0f} MiB | "
                f"{lines} lines, {manifest.stat().st_size / 1024:.0f} KiB |"
            )
            print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--fast-items", type=int, default=96)
    parser.add_argument("--optimise-items", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    parts = args.parts.split(",")
    lines = []
    with tempfile.TemporaryDirectory(prefix="painterly-bench-batch-") as tmp:
        work = Path(tmp)
        rows = []
        if "fast" in parts:
            names = ["local", "local, 2 processes", "ray 1 worker", "ray 2 workers"]
            rows += throughput("fast", names, args.fast_items, args.repeats, work)
        if "optimise" in parts:
            names = ["local", "ray 1 worker", "ray 2 workers"]
            rows += throughput("optimise", names, args.optimise_items, 1, work)
        if rows:
            lines += [
                "| engine | where | items | runs | items/s, whole run | items/s, steady | "
                "steady vs local |",
                "| --- | --- | --- | --- | --- | --- | --- |",
                *rows,
                "",
            ]
        if "tiny" in parts:
            lines += [
                "1,000 photos of 64 px, fast engine, the whole command as a child process:",
                "",
                "| where | run | wall | items/s | driver peak RSS | manifest |",
                "| --- | --- | --- | --- | --- | --- |",
                *tiny(work),
                "",
            ]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"## {when}: `python bench/batch.py --parts {args.parts}`\n\n"
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}; "
        "512 px; the fast engine is the bundled starry_night (rt) on ONNX Runtime.\n\n"
    )
    text = head + "\n".join(lines)
    sys.path.insert(0, str(ROOT / "bench"))
    from evaluate import report

    report(["", text], None if args.no_write else ROOT / "docs" / "benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
