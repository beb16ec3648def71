"""Print size: tiled evaluation (--tile, --max-memory) against the untiled run, and 4K/8K cost.

    .venv/bin/python bench/tiles.py                  # 1024 px, untiled vs --tile 256 (~70 min here)
    .venv/bin/python bench/tiles.py --part 4k        # 3840x2160, --max-memory 6
    .venv/bin/python bench/tiles.py --part 8k        # 7680x4320, --max-memory 12

``seams`` (the default part): tubingen x starry_night from examples/, the default settings at
1024 px (long side), seed 0, once with ``--tile off`` and once with small forced tiles
(``--tile 256``: every scale wider than a tile is evaluated in tiles of 256 px). Each run is
the whole ``painterly`` command in a child process: wall time and its peak RSS. Both results
are scored by bench/evaluate.py (content distance, the Gram style distance and the independent
one of Magenta's style embedding) and by the seam statistic below, at the tile borders and, for
scale, over every row and column. 100% crops across tile-border crossings, the two runs side
by side, and the difference of the two pictures go to docs/images/tiles/.

Seam statistic (:func:`seam_scores`): across a horizontal border at row ``b``, the mean
absolute difference between pixel rows ``b - 1`` and ``b`` (all columns and channels: the
image's gradient across the border), divided by the median of the same difference over the
``WINDOW`` rows on either side (the border's neighbours, itself left out); columns likewise.
About 1: the border is like any other row. A step in colour there scores high (2 and more);
a border smoothed over (blended tiles) scores low. For scale, the same score over every row
and column of the picture (1st to 99th percentile): a border is unremarkable when it lies in
that range. The same statistic on the gradient magnitude (:func:`gradient_magnitude`) looks
at the strength of the strokes instead of the colours.

``4k`` / ``8k``: a photo of ../shared/photos (kodim21, 768x512), cropped to 16:9 and upscaled
by painterly to 3840x2160 or 7680x4320 (the content is an upscaled photo; the painting adds the
detail), with ``--max-memory 6`` / ``12``; beside it, in the same run, the same photo at the
512 px default, for the time ratio (target: the 4K run within 40x of it, peak RSS within the
cap). These take hours: the print run checkpoints every CHECKPOINT_EVERY steps, and the same
command with the same ``--out`` after the bench was stopped (a session's end) continues it,
adding up the sittings' times (:func:`run_resumable`).

Appends a section to docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
EXAMPLES = ROOT / "examples"
CONTENT, STYLE = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
PHOTO = ROOT.parent / "shared" / "photos" / "kodim21.png"
CROPS = ROOT / "docs" / "images" / "tiles"
WINDOW = 8  # rows (columns) on either side of a border that it is compared with
CROP = 256  # side of each 100% crop, centred on a crossing of two tile borders
PRINT = {"4k": (3840, 6.0), "8k": (7680, 12.0)}  # part -> (long side, --max-memory GiB)
POLL = 5.0  # seconds between looks at a resumable run's memory
CHECKPOINT_EVERY = 4  # steps between a print run's checkpoints


def line_differences(image: torch.Tensor, axis: int) -> torch.Tensor:
    """``(C, H, W)`` or ``(H, W)`` -> the mean absolute difference between consecutive rows
    (``axis`` 0, length H - 1) or columns (``axis`` 1, length W - 1); entry ``b - 1`` is the
    difference across the border between lines ``b - 1`` and ``b``."""
    x = image if image.dim() == 3 else image.unsqueeze(0)
    x = x.transpose(1, 2) if axis == 1 else x
    return (x[:, 1:] - x[:, :-1]).abs().mean(dim=(0, 2))


def seam_scores(
    image: torch.Tensor, borders: list[int], axis: int, window: int = WINDOW
) -> list[float]:
    """For each border ``b`` (a row for ``axis`` 0, a column for 1) of ``image``, ``(C, H, W)``
    or ``(H, W)``: the difference across it over the median of the differences across the
    ``window`` lines on either side of it (itself left out). About 1: no seam."""
    diffs = line_differences(image, axis)
    scores = []
    for b in borders:
        if not 0 < b < len(diffs) + 1:
            raise ValueError(f"border {b} is not inside the image")
        i = b - 1
        around = torch.cat([diffs[max(0, i - window) : i], diffs[i + 1 : i + 1 + window]])
        scores.append(float(diffs[i] / around.median().clamp_min(1e-12)))
    return scores


def all_lines(image: torch.Tensor, axis: int, window: int = WINDOW) -> list[float]:
    """:func:`seam_scores` of every row (column) that has ``window`` lines on either side:
    how high the statistic goes where there is no tile border."""
    n = image.shape[-2] if axis == 0 else image.shape[-1]
    return seam_scores(image, list(range(window + 1, n - window)), axis, window)


def gradient_magnitude(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` -> ``(H - 1, W - 1)``: the length of the luminance gradient by forward
    differences, so that a step between rows ``b - 1`` and ``b`` lands on row ``b - 1`` alone
    (central differences would spread it over two rows and hide it from the statistic)."""
    luma = (image * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    dy = luma[1:, :-1] - luma[:-1, :-1]
    dx = luma[:-1, 1:] - luma[:-1, :-1]
    return torch.sqrt(dx.square() + dy.square())


def tile_borders(height: int, width: int, tile: int) -> tuple[list[int], list[int]]:
    """Rows and columns where the cores of tiles of ``tile`` px meet (tiles.plan)."""
    return list(range(tile, height, tile)), list(range(tile, width, tile))


def seam_summary(image: torch.Tensor, tile: int) -> dict[str, tuple[float, float]]:
    """``(1, 3, H, W)`` -> on the pixels and on the gradient magnitude: the lowest and highest
    seam score over the tile borders and, for scale, the 1st and 99th percentiles over all
    rows and columns (``"pixels"``, ``"pixels_all"``, ``"gradient"``, ``"gradient_all"``)."""
    rows, cols = tile_borders(*image.shape[-2:], tile)
    out = {}
    for name, x in (("pixels", image[0]), ("gradient", gradient_magnitude(image[0]))):
        at = seam_scores(x, rows, 0) + seam_scores(x, cols, 1)
        every = all_lines(x, 0) + all_lines(x, 1)
        out[name] = (min(at), max(at))
        out[f"{name}_all"] = tuple(float(v) for v in np.percentile(every, (1, 99)))
    return out


def span(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.2f}–{pair[1]:.2f}"


def painterly_cmd(content: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "painterly", str(content), str(STYLE), "-o", str(out),
            "--seed", "0", "-q", *extra]  # fmt: skip


def steps_flag(args: argparse.Namespace) -> list[str]:
    return ["--steps", str(args.steps)] if args.steps else []


def run(cmd: list[str]):
    from perf import run_child

    print("$", " ".join(cmd[1:]), flush=True)
    child = run_child(cmd)
    if child.code != 0:
        raise SystemExit(f"failed ({child.code}): {child.err.strip()[-2000:]}")
    print(f"  {child.wall:.0f} s, peak RSS {child.rss / 2**20:.0f} MiB", flush=True)
    return child


@dataclass
class Resumed:
    """A long run in one or more sittings: its wall time (each sitting's, to its last
    checkpoint when the sitting was killed), the largest peak RSS and the sittings."""

    wall: float
    rss: int
    sittings: int


def run_resumable(
    cmd: list[str], output: Path, ck: Path, state: Path, again: list[str] | None = None
) -> Resumed:
    """Run ``cmd`` (a painterly run writing ``output`` with ``--checkpoint ck``) to its end,
    over as many sittings as it takes: a rerun after the bench was killed (a session's end)
    continues with ``painterly resume ck``. ``state`` (JSON) keeps each sitting's wall time
    and peak RSS, the running one's polled every POLL seconds. A killed sitting counts up to
    its last checkpoint (the rest is redone and counted in the next); a killed sitting with
    no checkpoint counts nothing, as the next starts over. ``again``: the command that
    continues from ``ck`` (default: ``painterly resume ck -q``)."""
    record = json.loads(state.read_text()) if state.exists() else {"sittings": []}
    sittings = record["sittings"]
    cut = record.pop("running", None)
    if cut is not None:
        done = ck.stat().st_mtime - cut["began"] if ck.exists() else 0.0
        sittings.append({"wall": max(0.0, done), "rss": cut["rss"], "killed": True})
    while not output.exists():
        resume = again or [sys.executable, "-m", "painterly", "resume", str(ck), "-q"]
        argv = resume if ck.exists() else cmd
        print("$", " ".join(argv[1:]), flush=True)
        began = time.time()
        running = {"began": began, "rss": 0}
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                running["rss"] = max(running["rss"], peak_rss(proc.pid))
                state.write_text(json.dumps({**record, "running": running}))
                time.sleep(POLL)
            code = os.waitstatus_to_exitcode(status)
            err.seek(0)
            message = err.read().decode(errors="replace")
        rss = max(running["rss"], usage.ru_maxrss * 1024)
        sittings.append({"wall": time.time() - began, "rss": rss, "killed": code != 0})
        state.write_text(json.dumps(record))
        if code != 0:
            raise SystemExit(f"failed ({code}): {message.strip()[-2000:]}")
        print(f"  {sittings[-1]['wall']:.0f} s, peak RSS {rss / 2**20:.0f} MiB", flush=True)
    return Resumed(
        sum(s["wall"] for s in sittings), max((s["rss"] for s in sittings), default=0),
        len(sittings),
    )  # fmt: skip


def peak_rss(pid: int) -> int:
    """A running process's peak resident memory so far (VmHWM), 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def crossing_crop(images: list[torch.Tensor], y: int, x: int, path: Path) -> None:
    """The ``CROP`` px square centred on the crossing ``(y, x)`` of each image, at 100%, side
    by side, with ticks in a white margin where the borders run."""
    from painterly import io

    h, w = images[0].shape[-2:]
    half, gap = min(CROP // 2, y, x, h - y, w - x), 12
    side = 2 * half
    strip = torch.ones(3, side + gap, len(images) * (side + gap) + gap)
    for k, image in enumerate(images):
        left = gap + k * (side + gap)
        strip[:, gap:, left : left + side] = image[0, :, y - half : y + half, x - half : x + half]
        strip[:, : gap - 4, left + half] = 0.0  # the column border
    strip[:, gap + half, : gap - 4] = 0.0  # the row border
    path.parent.mkdir(parents=True, exist_ok=True)
    io.to_pil(strip.unsqueeze(0)).save(path)


def difference_map(a: torch.Tensor, b: torch.Tensor, path: Path, gain: float = 4.0) -> None:
    """The absolute difference of two pictures (mean over channels, ``gain`` times brighter),
    full size: where two runs differ, and whether that follows the tile borders."""
    from painterly import io

    diff = ((a - b).abs().mean(dim=1, keepdim=True) * gain).clamp(0, 1).expand(-1, 3, -1, -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.to_pil(diff).save(path, quality=90)


def seams_part(args: argparse.Namespace, work: Path) -> list[str]:
    from evaluate import Evaluator

    from painterly import io

    runs = {"untiled (--tile off)": "off", f"tiled (--tile {args.tile})": str(args.tile)}
    evaluate = Evaluator(CONTENT, STYLE)
    results = {}
    for label, tile in runs.items():
        out = work / f"tile_{tile}.png"
        curves = work / f"curves_{tile}.png"  # the losses step by step, to look at
        extra = ("--size", str(args.size), "--tile", tile, "--plot", str(curves), *steps_flag(args))
        child = run(painterly_cmd(CONTENT, out, *extra))
        image = io.load_image(out)
        record = io.read_metadata(out) or {}
        results[label] = {
            "child": child,
            "image": image,
            "scores": evaluate(out),
            "seams": seam_summary(image, args.tile),
            "tiles": record.get("tiles"),
        }
        print(" ", results[label]["scores"], results[label]["seams"], flush=True)
    (base, tiled) = (results[k] for k in runs)
    h, w = base["image"].shape[-2:]
    rows, cols = tile_borders(h, w, args.tile)
    crossings = [(rows[0], cols[len(cols) // 2]), (rows[-1], cols[-1])]
    for y, x in crossings:
        crossing_crop(
            [base["image"], tiled["image"]], y, x, CROPS / f"crossing_{args.size}_{y}_{x}.png"
        )
    diff = (tiled["image"] - base["image"]).abs() * 255
    difference_map(tiled["image"], base["image"], CROPS / f"difference_{args.size}.jpg")
    table = [
        "| run | tiles per scale | wall | peak RSS | content | style (Gram) | style "
        "(independent) | seam, pixels: borders (all lines) | seam, gradient: borders (all lines) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, r in results.items():
        s, m = r["scores"], r["seams"]
        table.append(
            f"| {label} | {r['tiles']} | {r['child'].wall:.0f} s | "
            f"{r['child'].rss / 2**20:.0f} MiB | {s['content']:.4f} | {s['style']:.5f} | "
            f"{s['independent']:.3f} | {span(m['pixels'])} ({span(m['pixels_all'])}) | "
            f"{span(m['gradient'])} ({span(m['gradient_all'])}) |"
        )
    ratio = {k: tiled["scores"][k] / base["scores"][k] - 1 for k in base["scores"]}
    return [
        f"tubingen x starry_night (examples/), defaults at {args.size} px ({w}x{h}), seed 0; "
        f"the whole command in a child process. Seam statistic (bench/tiles.py): about 1, a "
        f"border like any row; borders every {args.tile} px (rows {rows}, columns {cols}); "
        "lowest–highest over the borders, and the 1st–99th percentile over all lines.",
        "",
        *table,
        "",
        "Tiled against untiled: content {content:+.1%}, style (Gram) {style:+.1%}, style "
        "(independent) {independent:+.1%}; time x{t:.2f}, peak RSS x{m:.2f}.".format(
            **ratio,
            t=tiled["child"].wall / base["child"].wall,
            m=tiled["child"].rss / base["child"].rss,
        ),
        f"The two pictures differ by {diff.mean():.2f} / 255 on average ({diff.max():.0f} at "
        "most). Crops at 100% across border crossings (untiled left, tiled right): "
        + ", ".join(f"docs/images/tiles/crossing_{args.size}_{y}_{x}.png" for y, x in crossings)
        + f"; their difference, 4x brighter: docs/images/tiles/difference_{args.size}.jpg.",
    ]


def photo_16_9(work: Path) -> Path:
    """kodim21 cropped (centred) to 16:9; painterly upscales it to the print size."""
    from painterly import io

    image = io.load_image(PHOTO)
    h, w = image.shape[-2:]
    keep = w * 9 // 16
    top = (h - keep) // 2
    path = work / "photo_16x9.png"
    io.save_image(image[..., top : top + keep, :], path)
    return path


def print_part(args: argparse.Namespace, part: str, work: Path) -> list[str]:
    """The print-size run and the 512 px default beside it. Resumable: rerun with the same
    ``--out`` after the bench was killed and it continues (the 512 px run is not repeated)."""
    from painterly import io

    side, cap = PRINT[part]
    photo = photo_16_9(work)
    steps = steps_flag(args)
    state = work / f"{part}.json"
    record = json.loads(state.read_text()) if state.exists() else {}
    if "small" not in record:
        child = run(painterly_cmd(photo, work / "small.png", *steps))
        record["small"] = {"wall": child.wall, "rss": child.rss}
        state.write_text(json.dumps(record))
    small = record["small"]
    out, ck = work / f"{part}.png", work / f"{part}.ckpt"
    every = ["--checkpoint", str(ck), "--checkpoint-every", str(CHECKPOINT_EVERY)]
    cmd = painterly_cmd(photo, out, "--size", str(side), "--max-memory", str(cap), *steps, *every)
    big = run_resumable(cmd, out, ck, work / f"{part}.sittings.json")
    image = io.load_image(out)
    meta = io.read_metadata(out) or {}
    h, w = image.shape[-2:]
    finest = (meta.get("tiles") or [None])[-1]
    if finest:
        rows, cols = tile_borders(h, w, finest)
        y, x = rows[len(rows) // 2], cols[len(cols) // 2]
        crossing_crop([image], y, x, CROPS / f"{part}_crossing_{y}_{x}.png")
    ratio = big.wall / small["wall"]
    sittings = f" in {big.sittings} sittings (resumed from checkpoints)" if big.sittings > 1 else ""
    return [
        f"{PHOTO.name} cropped to 16:9 and upscaled by painterly (the content is an upscaled "
        f"768x432 photo), starry_night, defaults{' but ' + ' '.join(steps) if steps else ''}, "
        f"seed 0; the whole command in a child process{sittings}, checkpoints every "
        f"{CHECKPOINT_EVERY} steps included.",
        "",
        "| run | size | tiles per scale | wall | peak RSS | vs 512 px |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| 512 px default | {small_size(work / 'small.png')} | - | {small['wall']:.0f} s | "
        f"{small['rss'] / 2**20:.0f} MiB | 1 |",
        f"| --size {side} --max-memory {cap:g} | {w}x{h} | {meta.get('tiles')} | "
        f"{big.wall:.0f} s | {big.rss / 2**30:.2f} GiB | {ratio:.1f}x |",
    ]


def small_size(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return f"{im.width}x{im.height}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("seams", *PRINT), default="seams")
    parser.add_argument("--size", type=int, default=1024, help="seams: long side")
    parser.add_argument("--tile", type=int, default=256, help="seams: the forced tile side")
    parser.add_argument(
        "--steps", type=int, help="total steps (default: painterly's; fewer for a smoke test)"
    )
    parser.add_argument("--out", type=Path, help="keep the results here (default: temporary)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from perf import cpu_model

    with tempfile.TemporaryDirectory(prefix="painterly-bench-tiles-") as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        began = datetime.datetime.now(datetime.timezone.utc)
        body = seams_part(args, work) if args.part == "seams" else print_part(args, args.part, work)
    ended = datetime.datetime.now(datetime.timezone.utc)
    text = "\n".join(
        [
            f"## {began:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC: "
            f"`{' '.join(['python bench/tiles.py', *sys.argv[1:]])}` (print size)",
            "",
            f"{cpu_model()}, {os.cpu_count()} cores ({platform.machine()}), shared with other "
            f"work; torch {torch.__version__}.",
            "",
            *body,
            "",
        ]
    )
    from evaluate import report

    report(["", text], None if args.no_write else ROOT / "docs" / "benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
