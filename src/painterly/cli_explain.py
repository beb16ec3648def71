"""``painterly explain CONTENT STYLE -o FIGURE``: Figure 1 of Gatys et al. (2015) from your own
photo and painting; ``cli.main`` dispatches here (and maps the errors to exit codes).

The inputs go through the same checks and loading as a painting run (``api.prepare`` with the
reconstruction layers, one scale and a white-noise start); the panels come from
``explain.explain``, the picture from ``figure.render``, the file from ``io.save_image``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from painterly.console import (
    EXIT_OK,
    PROG,
    Parser,
    StopAfterStep,
    add_setting_flags,
    check_not_an_input,
    progress_bar,
    say,
    show_progress,
)
from painterly.errors import InputError
from painterly.inputs import Inputs
from painterly.settings import POOLINGS, WEIGHT_SOURCES, Settings

DEFAULT_SIZE = 256
# Measured at 256 px on two CPU cores (docs/explain.md): 100 L-BFGS steps a panel take about
# 7 minutes in all and every panel reads as in the article; 200 (twice the time) only clear
# more of the optimisation's coloured speckle from the relu4_2 and relu5_2 panels.
DEFAULT_STEPS = 100
DEFAULT_POOLING = "avg"  # as the article's figures (explain.py says why)
SETTING_FLAGS = ["seed", "weights", "device", "precision", "max_input_megapixels"]


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} explain",
        description="Show what VGG19 keeps of a photo and a painting, as in Figure 1 of Gatys "
        "et al. (2015): white noise optimised to match the photo's features at one layer "
        "(relu1_2 ... relu5_2), and the painting's Gram matrices on layers 1..n "
        "(relu1_1 ... relu5_1).",
    )
    p.add_argument("content", help="the photo")
    p.add_argument("style", help="the painting")
    p.add_argument("-o", "--output", required=True, help="the figure (.png .jpg .webp .tif)")
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help=f"long side of every panel in pixels (default: {DEFAULT_SIZE})",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_STEPS,
        help=f"L-BFGS steps per panel (default: {DEFAULT_STEPS})",
    )
    p.add_argument(
        "--pooling",
        choices=POOLINGS,
        default=DEFAULT_POOLING,
        help=f"VGG19 pooling (default: {DEFAULT_POOLING}, as the article)",
    )
    add_setting_flags(p, SETTING_FLAGS)
    p.add_argument(
        "--json", action="store_true", help="print each panel's kind, layers and distance"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return p


def cmd_explain(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.steps < 1:
        raise InputError(f"--steps {args.steps}: must be at least 1")
    settings, inputs = _settings_and_inputs(args)

    from painterly import api, figure, io  # torch loads here, after the cheap checks
    from painterly.explain import CONTENT_LAYERS, PANELS, STYLE_LAYERS, explain

    output = io.check_output_path(args.output)
    check_not_an_input(output, inputs.files())
    figure.require_matplotlib()
    settings = settings.replace(content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS)
    job = api.prepare(inputs, settings)
    content, style = job.content, job.styles[0][0]
    noise = job.start  # the 'noise' init: white noise the size of the photo
    updates = explain(job.extractor, content, style, noise, args.steps, job.settings, job.autocast)
    began = time.perf_counter()
    panels: list[Any] = []
    bar = progress_bar(len(PANELS) * args.steps, args.quiet)
    stop = StopAfterStep()
    try:
        with stop:
            for update in updates:
                if bar is not None and update.progress.step == 1:
                    spec = PANELS[update.index]
                    bar.set_description_str(f"{spec.kind} {spec.layers[-1]}", refresh=False)
                show_progress(bar, update.progress)
                if update.panel is not None:
                    panels.append(update.panel)
                if stop.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        _save(panels, content, style, output, job.record, args.steps)
        say(f"interrupted after {len(panels)} of {len(PANELS)} panels; wrote those to {output}")
        raise
    finally:
        if bar is not None:
            bar.close()
    _save(panels, content, style, output, job.record, args.steps)
    if args.json:
        print(json.dumps({"panels": [panel.to_dict() for panel in panels]}))
    if not args.quiet:
        h, w = content.shape[-2:]
        say(
            f"wrote {output} ({len(panels)} panels of {w}x{h}, {args.steps} steps each, "
            f"{time.perf_counter() - began:.0f} s, seed {job.settings.seed})"
        )
    return EXIT_OK


def _settings_and_inputs(args: argparse.Namespace) -> tuple[Settings, Inputs]:
    """The run's Settings (one scale, white noise, no TV; the layers are set once torch is
    loaded) and its Inputs; a ``--weights`` that names no source is a weights file."""
    given = {k: v for k, v in vars(args).items() if k in SETTING_FLAGS}
    weights_file = None
    if given.get("weights") is not None and given["weights"] not in WEIGHT_SOURCES:
        weights_file = given.pop("weights")
    settings = Settings().replace(
        **given,
        size=args.size,
        pooling=args.pooling,
        start_size=max(args.size, Settings().start_size),  # one scale: the panels' size
        steps=args.steps,
        init="noise",
        tv_weight=0.0,
    )
    return settings, Inputs.of(args.content, args.style, weights_file=weights_file)


def _save(
    panels: list[Any],
    content: Any,
    style: Any,
    output: Any,
    record: dict[str, Any],
    steps: int,
) -> None:
    """Draw the figure (the panels done so far) and write it atomically with its record."""
    from painterly import figure, io

    image = figure.render(panels, content, style)
    meta = {**record, "explain": {"steps": steps, "panels": [p.to_dict() for p in panels]}}
    io.save_image(image, output, meta)
