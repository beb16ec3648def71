"""Video: flicker, style and content per frame, and speed, for both engines:

    .venv/bin/python bench/video.py                    # the fast engine (~5 min)
    .venv/bin/python bench/video.py --parts optimise   # the optimisation engine, a short cut
    .venv/bin/python bench/video.py --parts optimise --optimise-size 640 --optimise-frames 6
    .venv/bin/python bench/video.py --model M.safetensors --no-write --strips /tmp/strips

Flicker is the warping error of Lai et al. (2018): for each pair of consecutive frames, the
mean squared difference (RGB in [0, 1]) between output frame t and output frame t+1 warped
back to t, over the pixels where the flow can be trusted; flow and trust come from the
*input* frames (DIS, forward/backward check: painterly.flow), averaged over the clip. It is
given for the input itself, frame by frame (``--temporal 0``) and with temporal consistency
(0.6 and 0.9, and 0.6 with the flow at full size, ``--flow-scale 1``).
Beside it, per frame (every ``--every``-th): the content distance (relu4_2, as
bench/evaluate.py) to that input frame and the independent style distance (Magenta's style
embedding, bench/evaluate.py) to the painting, so that smoothing cannot pass for
consistency. Speed: the frames/s the ``painterly video`` command reports at its end (its
frame loop: decode, flow, network, encode) on ``../shared/video`` at 640x360, and in
brackets the whole command's (start-up and the sound too), medians of ``--repeats``. The
real-time row asks for the fastest flow and encoder presets. The optimisation engine
runs ``--optimise-frames`` frames of the clip at ``--optimise-size``, once: its stills' wall
time over the frames is a still's cost (start-up included), and a later frame's is the
temporal run's wall time less one still, over the frames after the first (so start-up is
counted in both, a little against the later frames).

Appends a section to docs/benchmarks.md unless --no-write; saves strips of frames under
docs/images/video/.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
CLIP = ROOT.parent / "shared" / "video" / "big_buck_bunny_640x360_10s.mp4"
STYLES = {"starry_night": ROOT / "examples" / "starry_night.jpg"}
STRIP = (96, 97, 98, 99)  # frames shown side by side in docs/images/video/


def command(out: Path, *extra: str, source: Path = CLIP) -> list[str]:
    return [sys.executable, "-m", "painterly", "video", str(source), "-o", str(out), *extra]


def timed(cmd: list[str]) -> float:
    return paced(cmd)[1]


PACE = re.compile(r"(\d+) frames in ([\d.]+) s, [\d.]+ frames/s")


def paced(cmd: list[str]) -> tuple[float, float]:
    """The frame loop's frames/s (what the command says at its end: decoding, painting and
    encoding) and the whole command's wall time (start-up included)."""
    began = time.perf_counter()
    done = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    found = PACE.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no frames/s in the command's output: {done.stderr[-300:]}")
    return int(found[1]) / float(found[2]), wall


def frames(path: Path) -> list[torch.Tensor]:
    from painterly import videoio

    return [image for _, image, _ in videoio.Reader(path).frames()]


def flicker(inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> float:
    from painterly import flow

    fitted = [_fit(o, i) for o, i in zip(outputs, inputs, strict=True)]
    return flow.clip_warping_error(inputs, fitted)


def _fit(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    from painterly.image import resize

    return image if image.shape == like.shape else resize(image, tuple(like.shape[-2:]))


class Distances:
    """Content distance to the input frame and independent style distance to the painting."""

    def __init__(self, style: Path) -> None:
        from evaluate import CONTENT_LAYER, StyleEmbedding

        from painterly import io, weights
        from painterly.features import VGGFeatures

        self.layer = CONTENT_LAYER
        self.extractor = VGGFeatures(weights.load("caffe"), (CONTENT_LAYER,))
        self.embedding = StyleEmbedding()
        self.style = self.embedding(io.load_image(style))

    @torch.no_grad()
    def __call__(self, inputs: list[torch.Tensor], outputs: list[torch.Tensor], every: int):
        from painterly import losses

        content, style = [], []
        for t in range(0, len(outputs), every):
            out, photo = outputs[t], _fit(inputs[t], outputs[t])
            feats = self.extractor(torch.cat([out, photo]))[self.layer]
            content.append(losses.content_loss(feats[:1], feats[1:]).item())
            style.append(float(np.linalg.norm(self.embedding(out) - self.style)))
        return float(np.mean(content)), float(np.mean(style))


def strip(images: list[torch.Tensor], path: Path) -> None:
    from painterly import io

    row = torch.cat([_fit(images[t], images[STRIP[0]]) for t in STRIP], dim=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    io.to_pil(row).save(path, quality=88)


def fast_part(args: argparse.Namespace, work: Path) -> list[str]:
    settings = {
        "per frame (--temporal 0)": ["--temporal", "0"],
        "temporal 0.6 (default)": ["--temporal", "0.6"],
        "temporal 0.9": ["--temporal", "0.9"],
        "temporal 0.6, flow at full size (--flow-scale 1)": [
            "--temporal",
            "0.6",
            "--flow-scale",
            "1",
        ],
        "temporal 0.6, real time (--flow fast --flow-scale 0.25 --preset ultrafast)": [
            "--temporal",
            "0.6",
            "--flow",
            "fast",
            "--flow-scale",
            "0.25",
            "--preset",
            "ultrafast",
        ],
    }
    inputs = frames(CLIP)
    measure = Distances(STYLES["starry_night"])
    base = flicker(inputs, inputs)
    strip(inputs, args.strips / "input.jpg")
    rows = [f"| input clip | {base * 1e3:.2f} | | | | |"]
    per_frame = None
    for label, extra in settings.items():
        tag = "_".join(extra[1::2])  # the values: 0, 0.6, 0.9, 0.6_1
        out = work / f"fast_{tag}.mp4"
        cmd = command(out, "--model", args.model, *extra)
        runs = [paced(cmd) for _ in range(args.repeats)]
        outputs = frames(out)
        error = flicker(inputs, outputs)
        per_frame = per_frame or error
        content, style = measure(inputs, outputs, args.every)
        fps = statistics.median(rate for rate, _ in runs)
        whole = len(outputs) / statistics.median(wall for _, wall in runs)
        if len(extra) == 2:
            strip(outputs, args.strips / f"fast_temporal_{tag}.jpg")
        rows.append(
            f"| fast, {label} | {error * 1e3:.2f} | {error / per_frame:.2f} | "
            f"{content:.3f} | {style:.3f} | {fps:.1f} ({whole:.1f}) |"
        )
        print(rows[-1], flush=True)
    return rows


def optimise_part(args: argparse.Namespace, work: Path) -> list[str]:
    from painterly import io, videoio

    cut = work / "cut"
    cut.mkdir()
    reader = videoio.Reader(CLIP)
    for index, image, _ in reader.frames():
        if index >= STRIP[0] + args.optimise_frames:
            break
        if index >= STRIP[0]:
            io.save_image(image, cut / videoio.FRAME_NAME.format(index - STRIP[0]))
    inputs = frames(cut)
    measure = Distances(STYLES["starry_night"])
    rows = []
    per_frame = None
    still = None
    for label, extra in {
        "per frame (stills, --temporal 0)": ["--temporal", "0"],
        "temporal 0.6 (default)": ["--temporal", "0.6"],
    }.items():
        out = work / f"optimise_{extra[1].replace('.', '_')}"  # a folder: no dot
        cmd = command(
            out,
            str(STYLES["starry_night"]),
            "--size",
            str(args.optimise_size),
            "--seed",
            "0",
            *extra,
            source=cut,
        )
        wall = timed(cmd)
        outputs = frames(out)
        error = flicker(inputs, outputs)
        per_frame = per_frame or error
        content, style = measure(inputs, outputs, 1)
        if still is None:
            still = wall / len(outputs)
            cost = "1.00 of a still"
        else:  # the first frame is a still; a later one costs what is left, over the rest
            later = (wall - still) / (len(outputs) - 1)
            cost = f"a later frame {later:.1f} s, {later / still:.2f} of a still"
        rows.append(
            f"| optimisation {args.optimise_size} px, {label} | {error * 1e3:.2f} | "
            f"{error / per_frame:.2f} | {content:.3f} | {style:.3f} | "
            f"{len(outputs) / wall:.3f} ({cost}) |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="fast")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", type=int, default=12, help="frames between distance checks")
    parser.add_argument("--optimise-frames", type=int, default=8)
    parser.add_argument("--optimise-size", type=int, default=256)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--model",
        default="starry_night",
        help="the fast engine's model (of Starry Night: the style distance is to that painting)",
    )
    parser.add_argument(
        "--strips",
        type=Path,
        default=ROOT / "docs" / "images" / "video",
        help="folder for the strips of frames",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="painterly-bench-video-") as tmp:
        if "fast" in args.parts:
            rows += fast_part(args, Path(tmp))
        if "optimise" in args.parts:
            rows += optimise_part(args, Path(tmp))
    from perf import cpu_model

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"## {when}: `python bench/video.py --parts {args.parts}`",
            "",
            f"{cpu_model()}, {os.cpu_count()} cores ({platform.machine()}); {CLIP.name} "
            "(640x360, 24 fps, 240 frames), "
            f"{args.model}. Warping error x 1e-3 (lower: steadier); content: relu4_2 distance to "
            "the input frame; style: independent distance to the painting (lower: closer).",
            "",
            "| setting | warping error | vs per frame | content | style (independent) | "
            "frames/s (whole command) |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )
    from evaluate import report

    report(["", text], None if args.no_write else ROOT / "docs" / "benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
