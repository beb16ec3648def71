"""Run painterly once and save its image every few steps with the time it took to get there,
for bench/run.py's time-to-quality measurement. Runs as its own process:

    python bench/trajectory.py CONTENT STYLE OUT_DIR --every 10 [--set name=JSON ...]

Times count from the start of this script (imports, weight loading and image loading
included); the time spent saving snapshots is subtracted. Writes OUT_DIR/trajectory.json:
a list of {"step", "seconds", "path"}; the last entry is the finished result.
"""

from __future__ import annotations

import time

BEGAN = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("content")
    p.add_argument("style")
    p.add_argument("out", type=Path)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--set", action="append", default=[], help="a setting, name=JSON value")
    args = p.parse_args()

    import painterly
    from painterly import io
    from painterly.settings import Settings

    overrides = {}
    for item in args.set:
        name, value = item.split("=", 1)
        value = json.loads(value)
        overrides[name] = tuple(value) if isinstance(value, list) else value
    settings = Settings().replace(**overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    overhead = 0.0
    for progress in painterly.iterate(args.content, args.style, settings):
        if progress.step % args.every and not progress.done:
            continue
        now = time.perf_counter()
        path = args.out / f"step{progress.step:05d}.png"
        io.save_image(progress.image(), path)
        rows.append({"step": progress.step, "seconds": now - BEGAN - overhead, "path": str(path)})
        overhead += time.perf_counter() - now
    (args.out / "trajectory.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
