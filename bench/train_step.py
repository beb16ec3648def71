"""Seconds per training step of `painterly train`, with the loss network (VGG19) in the
memory layout it uses (channels last) beside the default layout, interleaved in one run so
that the ratio carries the claim (the transform network stays in the default layout: see
fast.prepare_training):

    .venv/bin/python bench/train_step.py [--arch rt] [--size 256] [--steps 15] [--rounds 3]

Each round builds a trainer per layout (Starry Night, four Kodak photos, the default loss
and precision), makes 3 warm-up steps, then times --steps steps. Prints the per-round
figures and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def seconds_per_step(layout: torch.memory_format, args: argparse.Namespace) -> float:
    from painterly import io, runtime, weights
    from painterly.features import VGGFeatures
    from painterly.settings import Settings, TrainOptions
    from painterly.train import Trainer

    settings = Settings(seed=0)
    options = TrainOptions(steps=100, architecture=args.arch, crop=args.size)
    style = io.load_image(SHARED / "images" / "style" / "starry_night.jpg")
    photos = [io.load_image(p) for p in sorted((SHARED / "photos").glob("*.png"))[:4]]
    extractor = VGGFeatures(weights.load("caffe"), settings.content_layers + settings.style_layers)
    extractor.to(memory_format=layout)  # as `painterly train` does (fast.prepare_training)
    device = torch.device("cpu")
    autocast = runtime.resolve_precision("auto", device)
    trainer = Trainer(
        extractor, photos, [(style, 1.0)], settings, options, device=device, autocast=autocast
    )
    for _ in range(3):
        trainer.advance()
    began = time.perf_counter()
    for _ in range(args.steps):
        trainer.advance()
    return (time.perf_counter() - began) / args.steps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="rt")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    layouts = {"channels last": torch.channels_last, "default": torch.contiguous_format}
    times: dict[str, list[float]] = {name: [] for name in layouts}
    for round_ in range(args.rounds):
        for name, layout in layouts.items():
            times[name].append(seconds_per_step(layout, args))
            print(f"round {round_ + 1}: {name}: {times[name][-1]:.3f} s/step", flush=True)
    last, default = (statistics.median(times[n]) for n in layouts)
    print(
        f"median s/step: channels last {last:.3f}, default {default:.3f}; "
        f"steps a minute, channels last / default: {default / last:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
