"""Why the independent style measure can be trusted: does it recognise paintings?

    .venv/bin/python bench/style_measure.py [--write docs/quality.md]

For every painting in ../shared/images/style, every photo in ../shared/images/content and
every canonical output in ../shared/images/reference-outputs, the embedding of Magenta's
style-prediction network (bench/evaluate.py, StyleEmbedding). Three checks, none of which
involves painterly's loss:

1. each canonical output is nearer to the painting it was made from than to any other;
2. the two halves (left/right) of one painting are nearer to each other than to any other
   painting (the measure sees the painter, not the composition);
3. the photos are far from every painting.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
sys.path.insert(0, str(ROOT / "bench"))

from evaluate import StyleEmbedding, report  # noqa: E402
from quality import PAIRS  # noqa: E402

from painterly import io  # noqa: E402


def _family(name: str) -> str:
    """starry_night.jpg and starry_night_crop.png are one painting."""
    return "starry_night" if name.startswith("starry_night") else name


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", type=Path, help="append the tables to this markdown file")
    args = p.parse_args()
    embed = StyleEmbedding()
    paintings = {f.name: io.load_image(f) for f in sorted((SHARED / "style").iterdir())}
    vec = {name: embed(image) for name, image in paintings.items()}

    def nearest(v: np.ndarray, exclude: str = "") -> tuple[str, float, float]:
        """The nearest painting, its distance, and the distance to the second nearest."""
        d = sorted((float(np.linalg.norm(v - w)), n) for n, w in vec.items() if n != exclude)
        return d[0][1], d[0][0], d[1][0]

    lines = [
        f"\n## {datetime.date.today()}: does the independent measure recognise paintings?\n",
        "Command: `python bench/style_measure.py`. Distances between embeddings of Magenta's",
        "style-prediction network; lower is closer.\n",
        "| canonical output | made from | nearest painting | distance | next nearest |",
        "| --- | --- | --- | --- | --- |",
    ]
    right = 0
    for ref, (_, style) in PAIRS.items():
        name, d1, d2 = nearest(embed(io.load_image(SHARED / "reference-outputs" / ref)))
        right += _family(name) == _family(style)
        lines.append(f"| {ref} | {style} | {name} | {d1:.2f} | {d2:.2f} |")
    lines += [
        f"\n{right} of {len(PAIRS)} canonical outputs are nearest their own painting "
        "(starry_night.jpg and its crop count as one painting).\n",
        "| painting | left half to right half | nearest other painting (distance) |",
        "| --- | --- | --- |",
    ]
    halves_ok = 0
    for name, image in paintings.items():
        w = image.shape[-1]
        left, right_half = embed(image[..., : w // 2]), embed(image[..., w // 2 :])
        own = float(np.linalg.norm(left - right_half))
        others = {k: v for k, v in vec.items() if _family(k) != _family(name)}
        other, d = min(
            ((k, float(np.linalg.norm(left - v))) for k, v in others.items()), key=lambda t: t[1]
        )
        halves_ok += own < d
        lines.append(f"| {name} | {own:.2f} | {other} ({d:.2f}) |")
    lines.append(
        f"\nFor {halves_ok} of {len(paintings)} paintings the two halves are nearer each other "
        "than the left half is to any other painting.\n"
    )
    lines += ["| photo | nearest painting | distance |", "| --- | --- | --- |"]
    for f in sorted((SHARED / "content").iterdir()):
        name, d1, _ = nearest(embed(io.load_image(f)))
        lines.append(f"| {f.name} | {name} | {d1:.2f} |")
    report(lines, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
