"""The command line: a thin layer over the API, and the only place that prints or exits.

    painterly CONTENT STYLE [STYLE ...] -o OUTPUT [options]
    painterly layers
    painterly info [--weights SOURCE]
    painterly resume CHECKPOINT
    painterly serve [--host H] [--port P] ...   (the web studio; needs painterly[web])
    painterly explain CONTENT STYLE -o FIGURE   (what the network sees; needs painterly[plot])
    painterly batch INPUT... -o DIR (--model M | --style S) ...   (folders x styles; --ray)
    painterly video INPUT [STYLE ...] -o OUTPUT [--model M]   (clips; needs painterly[video])

Flags are generated from the Settings fields. torch is imported only once a run starts,
so ``--help`` and input errors answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from painterly import allocator, curves
from painterly.arch import LAYER_TABLE, downsampling
from painterly.console import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Parser,
    StopAfterStep,
    add_output_flags,
    add_setting_flags,
    check_not_an_input,
    parse_style,
    progress_bar,
    say,
    show_progress,
    split_list,
)
from painterly.errors import InputError, InputNotice, NumericsError
from painterly.inputs import Inputs, check_weights_file
from painterly.settings import DEFAULT_CHECKPOINT_EVERY, WEIGHT_SOURCES, Settings
from painterly.version import __version__

COMMANDS = (
    "layers",
    "info",
    "resume",
    "serve",
    "train",
    "apply",
    "export",
    "models",
    "explain",
    "batch",
    "video",
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failed, 2 bad input, 130 Ctrl-C)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", InputNotice)
        warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(message: Any, category: type, filename: str, lineno: int, *rest: Any) -> None:
    """InputNotices become one 'note:' line; other warnings keep Python's format."""
    if issubclass(category, InputNotice):
        say(f"note: {message}")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno))


def _main(argv: list[str]) -> int:
    try:
        if argv and argv[0] in COMMANDS:
            commands = {
                "layers": _cmd_layers,
                "info": _cmd_info,
                "resume": _cmd_resume,
                "serve": _cmd_serve,
                "train": _fast("cmd_train"),
                "apply": _fast("cmd_apply"),
                "export": _fast("cmd_export"),
                "models": _fast("cmd_models"),
                "explain": _cmd_explain,
                "batch": _cmd_batch,
                "video": _cmd_video,
            }
            return commands[argv[0]](argv[1:])
        return _cmd_stylize(argv)
    except InputError as exc:
        say(f"error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except NumericsError as exc:
        say(f"failed: {exc}; nothing written")
        return EXIT_FAILED


# --- the parser, generated from Settings ----------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Repaint a photo in the style of one or more paintings (Gatys et al.). "
        f"Other commands: '{PROG} layers' lists VGG19 layer names, '{PROG} info' shows the set-up, "
        f"'{PROG} resume CHECKPOINT' finishes an interrupted run, "
        f"'{PROG} serve' starts the web studio, '{PROG} batch' runs folders of photos through "
        f"many styles, '{PROG} video' stylises clips; fast styles: '{PROG} train', 'apply', "
        "'export', 'models'; "
        f"'{PROG} explain' shows what the network sees. Each has --help.",
    )
    parser.add_argument("content", help="the photo to repaint")
    parser.add_argument(
        "styles",
        nargs="+",
        metavar="STYLE",
        help="style image(s); blend several with PATH:WEIGHT, e.g. starry.jpg:0.7 scream.jpg:0.3",
    )
    parser.add_argument("-o", "--output", required=True, help="result file (.png .jpg .webp .tif)")
    add_output_flags(parser)
    add_setting_flags(parser, [f.name for f in dataclasses.fields(Settings)])
    parser.add_argument(
        "--mask", metavar="PATH", help="mask image: white = stylise, black = keep the photo"
    )
    parser.add_argument(
        "--style-mask",
        type=split_list(str),
        metavar="P,P,...",
        help="comma-separated mask images, one per style: where each style goes",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also write every N-th step as OUTPUT_stepNNNNN.EXT (0: off)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="keep a resumable checkpoint here ('painterly resume PATH')",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help=f"steps between checkpoints (default: {DEFAULT_CHECKPOINT_EVERY})",
    )
    _add_plot_flag(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


# --- commands ------------------------------------------------------------------------------


def _cmd_stylize(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # One picture on the main thread: keep freed memory (see allocator; not for the
    # threaded commands: glibc's per-thread arenas cannot serve large blocks without mmap).
    allocator.keep_freed_memory()
    settings, inputs = _settings_and_inputs(args)
    for flag, value in (
        ("--save-every", args.save_every),
        ("--checkpoint-every", args.checkpoint_every),
    ):
        if value < 0:
            raise InputError(f"{flag} {value}: must be 0 or more")
    if args.plot is not None:
        curves.require()

    from painterly import api, io  # torch loads here, after the cheap checks
    from painterly.driver import Plan

    options = io.OutputOptions(args.bit_depth, args.dpi)
    output = io.check_output_path(args.output, options)
    check_not_an_input(output, inputs.files())
    ck_path = None
    if args.checkpoint is not None:
        ck_path = _check_checkpoint_path(Path(args.checkpoint), [*inputs.files(), str(output)])
    plan = Plan(
        output,
        save_every=args.save_every,
        checkpoint=ck_path,
        checkpoint_every=args.checkpoint_every or DEFAULT_CHECKPOINT_EVERY,
        plot=_check_plot_path(args.plot, [*inputs.files(), str(output), args.checkpoint]),
        options=options,
    )
    return _drive(api.prepare(inputs, settings), plan, args.quiet)


def _settings_and_inputs(args: argparse.Namespace) -> tuple[Settings, Inputs]:
    """Split the parsed flags: Settings fields, and the inputs (files) among them. A flag
    whose field names an input (``--init``, ``--weights``) gives that input when its value
    is not one of the field's choices."""
    given = vars(args)
    values, files = {}, {}
    for f in dataclasses.fields(Settings):
        if f.name not in given:
            continue
        into = f.metadata.get("input")
        if into is not None and given[f.name] not in f.metadata["choices"]:
            files[into] = given[f.name]
        else:
            values[f.name] = given[f.name]
    settings = Settings().replace(**values)
    styles = tuple(parse_style(s) for s in args.styles)
    inputs = Inputs.of(args.content, styles, mask=args.mask, style_masks=args.style_mask, **files)
    return settings, inputs


def _cmd_resume(argv: list[str]) -> int:
    parser = Parser(prog=f"{PROG} resume", description="Finish a run from its checkpoint.")
    parser.add_argument("checkpoint", help="file written by --checkpoint")
    _add_plot_flag(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    args = parser.parse_args(argv)
    if args.plot is not None:
        curves.require()

    import torch

    from painterly import api, checkpoint, fast, io
    from painterly.curves import History
    from painterly.driver import Plan

    if fast.is_training_checkpoint(args.checkpoint):
        if args.plot is not None:
            raise InputError("--plot: a training run has no loss curves to plot")
        from painterly.cli_fast import resume_training

        return resume_training(Path(args.checkpoint), args.quiet)
    allocator.keep_freed_memory()  # as the stylisation command: one picture, main thread
    ck = checkpoint.load(args.checkpoint)
    output = io.check_output_path(ck.output, ck.options)
    plan = Plan(
        output,
        checkpoint=Path(args.checkpoint),
        checkpoint_every=ck.every,
        plot=_check_plot_path(args.plot, [*ck.inputs.files(), str(output), args.checkpoint]),
        options=ck.options,
    )
    job = api.prepare(ck.inputs, ck.settings)
    if ck.torch_rng is not None:
        torch.set_rng_state(ck.torch_rng)
    if not args.quiet:
        say(f"resuming {ck.output} at step {ck.state.step} of {ck.settings.total_steps}")
    return _drive(job, plan, args.quiet, ck.state, ck.checksums, History.from_dict(ck.history))


def _drive(
    job: Any, plan: Any, quiet: bool, resume: Any = None, sums: Any = None, history: Any = None
) -> int:
    """Run a prepared job through the driver, with a progress bar and Ctrl-C handling."""
    from painterly.driver import Driver

    driver = Driver(job, plan, resume=resume, checksums=sums, history=history)
    bar = progress_bar(job.total_steps, quiet, resume.step if resume else 0)
    stop = StopAfterStep()
    try:
        with stop:
            outcome = driver.run(lambda p: show_progress(bar, p), lambda: stop.requested)
        if outcome.state == "stopped":
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        if driver.save_partial() is not None:
            _say_interrupted(driver)
        raise
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        h, w = outcome.last.size
        say(
            f"wrote {plan.output} ({w}x{h}, {outcome.last.step} steps in "
            f"{outcome.seconds:.1f} s, seed {job.settings.seed})"
        )
        if plan.plot is not None:
            say(f"wrote {plan.plot} (the loss curves)")
    return EXIT_OK


def _say_interrupted(driver: Any) -> None:
    checkpoint = driver.plan.checkpoint
    hint = ""
    if checkpoint is not None and checkpoint.exists():
        hint = f"; '{PROG} resume {checkpoint}' continues"
    plot = f" and the curves so far to {driver.plan.plot}" if driver.plan.plot else ""
    say(
        f"interrupted at step {driver.last.step}; wrote the image so far to "
        f"{driver.plan.output}{plot}{hint}"
    )


def _add_plot_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="also write the loss curves, each term against the step with the scales marked, "
        "as a PNG (needs painterly[plot])",
    )


def _check_checkpoint_path(path: Path, others: list[str], flag: str = "--checkpoint") -> Path:
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory")
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise InputError(f"{flag} {path}: folder {path.parent} does not exist")
    for other in others:
        if Path(other).resolve() == path.resolve():
            raise InputError(f"{flag} {path}: would overwrite {other}")
    return path


def _check_plot_path(plot: str | None, others: list[str | None]) -> Path | None:
    """``--plot``'s PNG: a writable place that is none of the run's other files."""
    if plot is None:
        return None
    path = Path(plot)
    if path.suffix.lower() != ".png":
        raise InputError(f"--plot {path}: the curves are a PNG; give a name ending in .png")
    return _check_checkpoint_path(path, [o for o in others if o is not None], "--plot")


def _cmd_layers(argv: list[str]) -> int:
    parser = Parser(prog=f"{PROG} layers", description="List the VGG19 layer names.")
    parser.parse_args(argv)
    print(f"{'layer':<9} {'channels':>8} {'stride':>6}")
    for name, _, channels in LAYER_TABLE:
        print(f"{name:<9} {channels:>8} {downsampling(name):>6}")
    return EXIT_OK


def _cmd_info(argv: list[str]) -> int:
    parser = Parser(prog=f"{PROG} info", description="Show version, device and weights.")
    parser.add_argument("--weights", default=Settings().weights, help="weights source to check")
    args = parser.parse_args(argv)
    if args.weights not in WEIGHT_SOURCES:
        check_weights_file(args.weights)

    import platform

    from painterly import fast, runtime, weights

    rows = {"painterly": __version__, "python": platform.python_version(), **runtime.describe()}
    rows["fast runtime"] = fast.describe_runtime()
    source = weights.resolve(args.weights)
    rows["weights"] = f"{source.name}: {source.description}"
    loaded = source.load()
    rows["weights file"] = f"{loaded.location} (verified)"
    rows["preprocessing"] = loaded.preprocessing.name
    for key, value in rows.items():
        print(f"{key + ':':<16}{value}")
    return EXIT_OK


def _fast(name: str) -> Callable[[list[str]], int]:
    """A command of the feed-forward engine (cli_fast.py), imported when it runs."""

    def command(argv: list[str]) -> int:
        from painterly import cli_fast

        return int(getattr(cli_fast, name)(argv))

    return command


def _cmd_explain(argv: list[str]) -> int:
    from painterly.cli_explain import cmd_explain  # explain.py, figure.py: imported when used

    return cmd_explain(argv)


def _cmd_batch(argv: list[str]) -> int:
    from painterly.cli_batch import cmd_batch

    return cmd_batch(argv)


def _cmd_video(argv: list[str]) -> int:
    from painterly.cli_video import cmd_video

    return cmd_video(argv)


def _cmd_serve(argv: list[str]) -> int:
    try:
        from painterly.web import serve_main
    except ImportError as exc:
        raise InputError(
            f"the web studio needs extra packages ({exc.name} is missing): "
            "pip install 'painterly[web]'"
        ) from None
    return serve_main(argv)


if __name__ == "__main__":
    sys.exit(main())
