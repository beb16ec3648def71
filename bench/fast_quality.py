"""A trained model beside the optimisation engine's defaults, on the shared content photos:

    .venv/bin/python bench/fast_quality.py MODEL STYLE [--size 512] [--out DIR] [--opt-dir DIR]
        [--preserve-color painting]

Both results are scored by the fixed evaluation of bench/evaluate.py: relu4_2 content
distance, Gram style distance, and the independent style distance (Magenta's style
embedding, a network neither engine optimises; the fast-styles issue's measure). The Gram
distance is built from the same VGG19 Gram matrices both engines minimise, so it says how
close each gets to its own objective, not how much the result looks like the painting.
The last lines give the means and the issue's two ratios. Images
go to --out: ``<photo>__fast.png`` and ``<photo>__optimised.png`` (the optimised ones are
reused from --opt-dir when there, since they take a minute each). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT.parent / "shared" / "images" / "content"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("style", type=Path)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--opt-dir", type=Path, help="optimised results to reuse (default: --out)")
    p.add_argument("--preserve-color", default="none", help="apply's colour mode for the model")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from evaluate import Evaluator

    import painterly
    from painterly import fast, io

    args.out.mkdir(parents=True, exist_ok=True)
    opt_dir = args.opt_dir or args.out
    opt_dir.mkdir(parents=True, exist_ok=True)
    model = fast.load_model(args.model)
    rows = [
        "| photo | fast content | fast style (Gram) | fast style (independent) | optimised content "
        "| optimised style (Gram) | optimised style (independent) | fast s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    scores: list[tuple[dict[str, float], dict[str, float]]] = []
    for photo in sorted(CONTENT.glob("*.jpg")):
        judge = Evaluator(photo, args.style)
        began = time.perf_counter()
        result = fast.apply(model, fast.fit(io.load_image(photo), args.size), args.preserve_color)
        seconds = time.perf_counter() - began
        fast_path = args.out / f"{photo.stem}__fast.png"
        io.save_image(result, fast_path)
        opt_path = opt_dir / f"{photo.stem}__{args.style.stem}__optimised.png"
        if not opt_path.exists():
            painterly.stylize(photo, args.style, size=args.size, seed=0).save(opt_path)
        a, b = judge(fast_path), judge(opt_path)
        scores.append((a, b))
        rows.append(
            f"| {photo.stem} | {a['content']:.3f} | {a['style']:.4f} | {a['independent']:.3f} "
            f"| {b['content']:.3f} | {b['style']:.4f} | {b['independent']:.3f} | {seconds:.2f} |"
        )
        print(rows[-1], flush=True)
    mean = {
        (side, key): sum(pair[side][key] for pair in scores) / len(scores)
        for side in (0, 1)
        for key in ("content", "style", "independent")
    }
    rows.append(
        f"| mean | {mean[0, 'content']:.3f} | {mean[0, 'style']:.4f} | "
        f"{mean[0, 'independent']:.3f} | {mean[1, 'content']:.3f} | {mean[1, 'style']:.4f} | "
        f"{mean[1, 'independent']:.3f} | |"
    )
    print("\n".join(rows))
    ratio = mean[0, "independent"] / mean[1, "independent"]
    print(
        f"fast / optimised, independent style: {ratio:.2f} "
        f"(target <= 1.5); content: fast - optimised = "
        f"{mean[0, 'content'] - mean[1, 'content']:+.2f} (target <= +0.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
