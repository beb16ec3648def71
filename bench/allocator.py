"""The C allocator under torch: glibc's default against what the command line sets.

    .venv/bin/python bench/allocator.py                      # 512 px, 3 runs each (~25 min)
    .venv/bin/python bench/allocator.py --size 1024 --steps 20 --repeats 1

The command line calls ``allocator.keep_freed_memory()``: large blocks come from the heap and
freed memory is kept for the next tensor, instead of glibc's default of an ``mmap`` per block
over its threshold, unmapped when freed (and faulted in and zeroed again at the next use).
``PAINTERLY_MALLOC=system`` turns that off. Each run is the whole ``painterly`` command
(tubingen x starry_night from examples/, seed 0) in a child process; the two settings
alternate, so that the machine's drift falls on both. Reported: the median wall time, the
median peak RSS and the median system (kernel) time, which is where the page faults go.

Appends a section to docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
CONTENT, STYLE = ROOT / "examples" / "tubingen.jpg", ROOT / "examples" / "starry_night.jpg"
SETTINGS = {"glibc default": {"PAINTERLY_MALLOC": "system"}, "kept (the CLI's)": {}}


def one(out: Path, size: int, steps: int | None, env: dict[str, str]) -> dict[str, float]:
    cmd = [sys.executable, "-m", "painterly", str(CONTENT), str(STYLE), "-o", str(out),
           "--size", str(size), "--seed", "0", "-q"]  # fmt: skip
    if steps:
        cmd += ["--steps", str(steps)]
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {err.strip()[-2000:]}")
    return {"wall": wall, "rss": usage.ru_maxrss * 1024, "sys": usage.ru_stime}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, help="total steps (default: painterly's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from evaluate import report
    from perf import cpu_model

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    began = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory(prefix="painterly-bench-alloc-") as tmp:
        for n in range(args.repeats):
            for name, env in SETTINGS.items():
                runs[name].append(one(Path(tmp) / f"{n}.png", args.size, args.steps, env))
                print(name, runs[name][-1], flush=True)
    ended = datetime.datetime.now(datetime.timezone.utc)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    base = "glibc default"
    rows = [
        f"| {name} | {median(name, 'wall'):.0f} s | "
        f"{median(name, 'wall') / median(base, 'wall'):.2f} | {median(name, 'sys'):.1f} s | "
        f"{median(name, 'rss') / 2**20:.0f} MiB |"
        for name in SETTINGS
    ]
    steps = f" --steps {args.steps}" if args.steps else ""
    report(
        [
            "",
            f"## {began:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC: "
            f"`{' '.join(['python bench/allocator.py', *sys.argv[1:]])}` (the C allocator)",
            "",
            f"{cpu_model()}, {os.cpu_count()} cores ({platform.machine()}); torch "
            f"{__import__('torch').__version__}. `painterly tubingen.jpg starry_night.jpg "
            f"--size {args.size}{steps} --seed 0`, whole command in a child process, the two "
            f"settings alternating, median of {args.repeats}.",
            "",
            "| allocator | wall | vs default | kernel time | peak RSS |",
            "| --- | --- | --- | --- | --- |",
            *rows,
        ],
        None if args.no_write else ROOT / "docs" / "benchmarks.md",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
