"""``painterly batch``: folders of photos through many styles; ``cli.main`` dispatches here.

painterly batch INPUT [INPUT ...] -o OUTPUT_DIR (--model MODEL ... | --style STYLE ...)
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from painterly.console import (
    EXIT_FAILED,
    EXIT_OK,
    PROG,
    Parser,
    add_engine_flags,
    add_output_flags,
    given_settings,
    progress_bar,
    say,
)
from painterly.errors import InputError
from painterly.settings import APPLY_COLOUR_MODES, INITS, WEIGHT_SOURCES, Settings

FILES = ("driver", "shared")  # batch.FILES
DEFAULT_NAME = "{stem}__{style}.png"  # batch.DEFAULT_NAME (this module does not import torch)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} batch",
        description="Stylise every photo with every style (or model) into one folder. A rerun "
        "skips what is done and unchanged, retries what failed and redoes what changed "
        "(OUTPUT_DIR/manifest.jsonl).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photos: files, folders, globs")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT_DIR", help="output folder")
    engine = p.add_mutually_exclusive_group(required=True)
    engine.add_argument(
        "--model",
        action="append",
        metavar="MODEL",
        help="a trained model (file or bundled name): the fast engine; repeat for several",
    )
    engine.add_argument(
        "--style",
        action="append",
        metavar="STYLE",
        help="a painting: the optimisation engine; repeat for several",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="look in subfolders too")
    p.add_argument(
        "--name",
        default=DEFAULT_NAME,
        metavar="PATTERN",
        help="output names, from {stem} "
        "{style} {dir} {ext}; the suffix sets the format (default: {stem}__{style}.png)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes, each loading the engine "
        "once (default: 1 here, in this process; with --ray, one per 2 CPUs of the cluster)",
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run on a Ray cluster (painterly[cluster]): its "
        "address, or auto (RAY_ADDRESS, else a local one)",
    )
    p.add_argument(
        "--worker-cpus",
        type=int,
        metavar="C",
        help="with --ray: CPUs per worker (default: 2, or the cluster's CPUs shared by --workers)",
    )
    p.add_argument(
        "--files",
        default="driver",
        help="driver: photos are "
        "sent from here and results come back here; shared: workers read and write these "
        "paths themselves, which every node must see (default: driver)",
    )
    add_engine_flags(p)
    add_output_flags(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return p


def cmd_batch(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings, given = _settings(args)
    for flag in ("workers", "worker_cpus"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.files not in FILES:
        raise InputError(f"--files {args.files}: expected one of {', '.join(FILES)}")
    if args.worker_cpus is not None and args.ray is None:
        raise InputError("--worker-cpus is for --ray; here use --workers")

    from painterly import batch, io  # torch loads here, after the cheap checks

    folder = io.check_output_folder(args.output)

    batch.check_name(args.name)
    options = io.OutputOptions(args.bit_depth, args.dpi)
    options.check(Path(args.name).suffix)
    engine = _engine(args, settings, given, options)
    sources = batch.find_inputs(args.inputs, args.recursive, exclude=folder)
    items = batch.plan(sources, [s.name for s in engine.styles], args.name)
    # A new folder has nothing up to date: workers start now, so that a problem with them
    # (Ray's connection or shape) is a clean exit 2 before anything is written. A rerun
    # starts them only once it knows there is work.
    started = _executor(args, engine) if not (folder / batch.MANIFEST).exists() else None
    try:
        summary = _run(
            batch, items, engine, folder, lambda: started or _executor(args, engine), args
        )
    finally:
        if started is not None:
            started.close()  # closing twice is harmless
    return _report(summary, folder, args.quiet)


def _settings(args: argparse.Namespace) -> tuple[Settings, set[str]]:
    """The Settings the flags give, and which fields were given."""
    given = given_settings(args, bool(args.model), "--style")
    if "weights" in given and args.weights not in WEIGHT_SOURCES:
        raise InputError(f"--weights {args.weights}: a batch takes {', '.join(WEIGHT_SOURCES)}")
    if "init" in given and args.init not in INITS:
        raise InputError(f"--init {args.init}: a batch starts every item from its own photo")
    if args.model and getattr(args, "preserve_color", "none") not in APPLY_COLOUR_MODES:
        raise InputError(
            f"--preserve-color {args.preserve_color}: --model takes {', '.join(APPLY_COLOUR_MODES)}"
        )
    return Settings().replace(**{k: getattr(args, k) for k in given}), given


def _engine(args: argparse.Namespace, settings: Settings, given: set[str], options: Any) -> Any:
    """The Engine, with every style or model read (and checked) here, once; its results
    written as ``options`` say."""
    from painterly import fast, io, modelfile, runtime
    from painterly.workers import Engine, Style

    runtime.resolve_device(settings.device)  # an absent device: one line now
    styles = []
    for text in args.model or args.style:
        if args.model:
            path = modelfile.resolve(text)
            model = fast.load_model(path, args.runtime, settings.device)  # as a worker will
            if getattr(args, "preserve_color", "none") == "painting":
                fast.model_palette(model)  # a model without one: refused now, not per item
        else:
            path = Path(text)
            io.load_image(path, settings.max_input_pixels)
        data = path.read_bytes()
        styles.append(Style(path.stem, path.name, data, hashlib.sha256(data).hexdigest()))
    names = [s.name for s in styles]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"two styles are named {name!r}: rename one of the files")
    if args.model:
        size = settings.size if "size" in given else None
        return Engine(
            "fast",
            tuple(styles),
            settings.to_dict(),
            size,
            getattr(args, "preserve_color", "none"),  # a frame's colours: none unless asked
            args.runtime,
            settings.device,
            output=options,
        )
    return Engine(
        "optimise", tuple(styles), settings.to_dict(), device=settings.device, output=options
    )


def _executor(args: argparse.Namespace, engine: Any) -> Any:
    if args.ray is not None:
        from painterly.cluster import RayExecutor

        return RayExecutor(engine, args.ray, args.workers, args.worker_cpus)
    from painterly import batch

    if (args.workers or 1) == 1:
        return batch.InProcess(engine)
    return batch.ProcessPool(engine, args.workers)


def _run(
    batch: Any, items: list[Any], engine: Any, folder: Path, start: Any, args: argparse.Namespace
) -> Any:
    bar: Any = None
    failed = 0

    def on_start(todo: int, skipped: int) -> None:
        nonlocal bar
        if skipped and not args.quiet:
            say(f"{skipped} of {todo + skipped} items are done and unchanged: skipped")
        bar = progress_bar(todo, args.quiet, unit="item")

    def on_result(item: Any, result: Any) -> None:
        nonlocal failed
        failed += result.error is not None
        if bar is not None:
            if failed:
                bar.set_postfix_str(f"{failed} failed", refresh=False)
            bar.update(1)

    try:
        return batch.run(
            items,
            engine,
            folder,
            start,
            files=args.files,
            on_start=on_start,
            on_result=on_result,
        )
    except KeyboardInterrupt:
        say("interrupted; finished items are kept: run the same command to continue")
        raise
    finally:
        if bar is not None:
            bar.close()


def _report(summary: Any, folder: Path, quiet: bool) -> int:
    for item, error in summary.failed:  # always said: each failure in one line
        say(f"failed: {item.source.path} × {item.style}: {error}")
    if not quiet:
        rate = summary.done / summary.seconds if summary.seconds else 0.0
        say(
            f"{summary.done} done, {len(summary.failed)} failed, {summary.skipped} up to date "
            f"in {summary.seconds:.1f} s ({rate:.2f} items/s) -> {folder}"
        )
    return EXIT_FAILED if summary.failed else EXIT_OK


__all__ = ["build_parser", "cmd_batch"]
