"""The feed-forward engine's commands; ``cli.main`` dispatches here (and maps the errors).

painterly train STYLE [STYLE:W ...] --photos DIR -o MODEL [options]
painterly apply MODEL INPUT [INPUT ...] -o OUTPUT [--size PX] [--preserve-color luminance|painting]
                [--bit-depth 16] [--dpi N]
painterly models
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from painterly.console import (
    EXIT_OK,
    PROG,
    RUNTIMES,
    Parser,
    StopAfterStep,
    add_output_flags,
    add_setting_flags,
    parse_style,
    progress_bar,
    say,
    show_progress,
)
from painterly.errors import InputError
from painterly.inputs import Inputs
from painterly.settings import (
    APPLY_COLOUR_MODES,
    DEVICES,
    TRAIN_COLOUR_MODES,
    WEIGHT_SOURCES,
    TrainOptions,
    train_settings,
)

# The loss settings a training run takes (the rest are the optimisation engine's).
TRAIN_SETTINGS = [
    "content_weight",
    "style_weight",
    "tv_weight",
    "content_layers",
    "style_layers",
    "style_layer_weights",
    "style_stats",
    "style_scale",
    "seed",
    "weights",
    "pooling",
    "device",
    "precision",
]
DEFAULT_PREVIEW_EVERY = 250
DEFAULT_TRAIN_CHECKPOINT_EVERY = 100


def build_train_parser() -> argparse.ArgumentParser:
    d = TrainOptions()
    p = Parser(prog=f"{PROG} train", description="Train a fast network for a painting.")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="painting(s); PATH:WEIGHT blends")
    p.add_argument("--photos", required=True, help="folder of training photos")
    p.add_argument("-o", "--output", required=True, help="the model file (.safetensors)")
    p.add_argument(
        "--arch", default=d.architecture, help=f"network: rt or hq (default: {d.architecture})"
    )
    p.add_argument(
        "--noise",
        type=int,
        metavar="N",
        help="noise channels the network paints from, so that flat areas get varied "
        "strokes (8 is what was measured; default: 0, none)",
    )
    p.add_argument("--steps", type=int, default=d.steps, help=f"steps (default: {d.steps})")
    p.add_argument("--size", type=int, default=d.crop, help=f"crop side (default: {d.crop})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"crops a step (default: {d.batch})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default: {d.lr})")
    p.add_argument(
        "--photo-side",
        type=int,
        default=d.photo_side,
        help=f"long side photos and style are resized to (default: {d.photo_side})",
    )
    add_setting_flags(p, TRAIN_SETTINGS, train_settings())
    p.add_argument(
        "--preserve-color",
        choices=TRAIN_COLOUR_MODES,
        default=argparse.SUPPRESS,
        help="painting: the content loss sees each photo recoloured with the painting's "
        "palette, so the network repaints the photo's colours too (default: none)",
    )
    p.add_argument(
        "--preview-every",
        type=int,
        default=DEFAULT_PREVIEW_EVERY,
        metavar="N",
        help=f"write MODEL_stepNNNNN.png every N steps; 0: off (default: {DEFAULT_PREVIEW_EVERY})",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULT_TRAIN_CHECKPOINT_EVERY,
        metavar="N",
        help=f"steps between checkpoints in MODEL.ckpt (default: {DEFAULT_TRAIN_CHECKPOINT_EVERY})",
    )
    p.add_argument("--resume", action="store_true", help="continue from MODEL.ckpt")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return p


def cmd_train(argv: list[str]) -> int:
    args = build_train_parser().parse_args(argv)
    from painterly import fast

    output = _model_path(args.output)
    ck = output.with_name(output.name + ".ckpt")
    for flag in ("preview_every", "checkpoint_every"):
        if getattr(args, flag) < 0:
            raise InputError(f"--{flag.replace('_', '-')} must be 0 or more")
    if args.resume:
        if not ck.is_file():
            raise InputError(f"--resume: no checkpoint {ck}")
        _, training = fast.training_from_checkpoint(ck)
        if not args.quiet:  # the checkpoint's own settings and photos, not this command's
            say(f"resuming the training of {output} at step {training.trainer.step}")
    else:
        if ck.exists():
            raise InputError(f"{ck} exists: add --resume to continue that run, or remove it")
        given = {k: v for k, v in vars(args).items() if k in (*TRAIN_SETTINGS, "preserve_color")}
        weights_file = None
        if given.get("weights") is not None and given["weights"] not in WEIGHT_SOURCES:
            weights_file = given.pop("weights")  # a file: an input, not a setting
        settings = train_settings(**given)
        options = TrainOptions(
            args.arch, args.steps, args.size, args.batch, args.lr, args.photo_side, args.noise
        )
        styles = tuple(parse_style(s) for s in args.styles)
        inputs = Inputs.of(args.photos, styles, weights_file=weights_file)
        command = [PROG, "train", *argv]
        training = fast.prepare_training(inputs, settings, options, command=command)
        training.config["cli"] = {
            "preview_every": args.preview_every,
            "checkpoint_every": args.checkpoint_every,
        }
    return drive_training(training, output, ck, args)


def drive_training(training: Any, output: Path, ck: Path, args: Any) -> int:
    """Train to the end: progress, previews, checkpoints, Ctrl-C; then the model file."""
    from painterly import fast, io, modelfile

    trainer = training.trainer
    preview_photo = fast.fit(trainer.photos[0], min(trainer.options.photo_side, 512))
    every = args.checkpoint_every or DEFAULT_TRAIN_CHECKPOINT_EVERY
    bar = progress_bar(trainer.options.steps, args.quiet, trainer.step)
    stop = StopAfterStep()
    last = None
    try:
        with stop:
            for last in trainer.run():
                show_progress(bar, last)
                if args.preview_every and last.step % args.preview_every == 0:
                    preview = trainer.stylize(preview_photo)
                    io.save_image(
                        preview, output.with_name(f"{output.stem}_step{last.step:05d}.png")
                    )
                if stop.requested or (last.step % every == 0 and not last.done):
                    fast.save_checkpoint(ck, training, str(output))
                if stop.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if last is not None and not stop.requested:
            say("stopped at once: the last checkpoint is the one to resume from")
        say(f"interrupted; '{PROG} train ... --resume' or '{PROG} resume {ck}' continues")
        raise
    finally:
        if bar is not None:
            bar.close()
    minutes = (last.elapsed / 60) if last is not None else 0.0
    record = {**training.record, "steps_done": trainer.step, "minutes": round(minutes, 2)}
    modelfile.save(output, trainer.net, record)
    ck.unlink(missing_ok=True)
    if not args.quiet:
        say(f"wrote {output} ({trainer.step} steps)")
    return EXIT_OK


def resume_training(ck: Path, quiet: bool) -> int:
    from painterly import fast

    output, training = fast.training_from_checkpoint(ck)
    if not quiet:
        say(f"resuming the training of {output} at step {training.trainer.step}")
    kept = training.config.get("cli", {})  # the intervals the run was started with
    args = argparse.Namespace(
        quiet=quiet,
        preview_every=kept.get("preview_every", DEFAULT_PREVIEW_EVERY),
        checkpoint_every=kept.get("checkpoint_every", DEFAULT_TRAIN_CHECKPOINT_EVERY),
    )
    return drive_training(training, Path(output), ck, args)


def cmd_apply(argv: list[str]) -> int:
    p = Parser(prog=f"{PROG} apply", description="Stylise photos with a trained model.")
    p.add_argument("model", help="a model file (.safetensors) or a bundled model's name")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo(s)")
    p.add_argument("-o", "--output", required=True, help="a file, or a folder for several")
    add_output_flags(p)
    p.add_argument("--size", type=int, default=None, help="long side (default: as the photo)")
    p.add_argument(
        "--preserve-color",
        default="none",
        choices=APPLY_COLOUR_MODES,
        help="luminance: the style on brightness only, in the photo's colours; painting: the "
        "result in the painting's colour mean and covariance, recorded in the model "
        "(default: none)",
    )
    p.add_argument(
        "--device", default="auto", choices=DEVICES, help="compute device (default: auto)"
    )
    p.add_argument(
        "--runtime",
        default="auto",
        choices=RUNTIMES,
        help="auto: on the CPU the fastest installed: OpenVINO, else ONNX Runtime, else "
        "PyTorch (default: auto)",
    )
    p.add_argument(
        "--max-memory",
        type=float,
        default=None,
        metavar="GB",
        help="a photo that needs more runs in tiles, with the same result (default: what is free)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no summary")
    args = p.parse_args(argv)
    if args.size is not None and args.size < 1:
        raise InputError(f"--size {args.size}: must be at least 1")
    if args.max_memory is not None and not args.max_memory > 0:
        raise InputError(f"--max-memory {args.max_memory}: must be positive")

    from painterly import fast, io

    options = io.OutputOptions(args.bit_depth, args.dpi)
    targets = _apply_targets(args.inputs, args.output, options)
    model = fast.load_model(args.model, args.runtime, args.device)
    for source, target in targets:
        image = fast.fit(io.load_image(source), args.size)
        result = fast.apply(model, image, args.preserve_color, args.max_memory)
        record = fast.apply_record(model, source)
        io.save_image(result, target, record, options=options, exif=io.camera_exif(source))
        if not args.quiet:
            say(f"wrote {target}")
    return EXIT_OK


def _apply_targets(inputs: list[str], output: str, options: Any) -> list[tuple[str, Path]]:
    """``(input, output file)`` pairs: one input to a file, several into a folder (as
    PNGs); an InputError for an output that cannot hold ``options``."""
    from painterly import io

    out = Path(output)
    if len(inputs) == 1 and not out.is_dir():
        target = io.check_output_path(out, options)
        if Path(inputs[0]).resolve() == target.resolve():
            raise InputError(f"{target}: the output would overwrite the input {inputs[0]}")
        return [(inputs[0], target)]
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: several inputs need a folder")
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(src, out / f"{Path(src).stem}.png") for src in inputs]
    seen: dict[Path, str] = {}
    for src, target in pairs:
        if target in seen:
            raise InputError(f"{src} and {seen[target]} would both be written to {target}")
        if Path(src).resolve() == target.resolve():
            raise InputError(f"{target}: the output would overwrite the input {src}")
        seen[target] = src
    return pairs


def cmd_export(argv: list[str]) -> int:
    p = Parser(prog=f"{PROG} export", description="Write a model as ONNX (painterly[onnx]).")
    p.add_argument("model", help="a model file (.safetensors) or a bundled model's name")
    p.add_argument("-o", "--output", required=True, help="the ONNX file (.onnx)")
    args = p.parse_args(argv)
    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"-o {out}: an ONNX file ends in .onnx")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise InputError(f"-o {out}: folder {out.parent} does not exist")

    from painterly import modelfile, onnxrt

    onnxrt.export(modelfile.load(args.model), out)
    say(f"wrote {out}")
    return EXIT_OK


def cmd_models(argv: list[str]) -> int:
    Parser(prog=f"{PROG} models", description="List the bundled models.").parse_args(argv)
    from painterly import modelfile

    found = modelfile.bundled()
    if not found:
        print("no bundled models are installed")
    for path in found:
        record = modelfile.read_record(path)
        styles = ", ".join(s["name"] for s in record.get("styles", []))
        training = record.get("training", {})
        print(
            f"{path.stem:<16} {record.get('architecture', '?'):<4} style {styles}; "
            f"{record.get('steps_done', '?')} steps, {training.get('crop', '?')} px crops, "
            f"{record.get('minutes', '?')} min; {os.path.getsize(path) / 2**20:.1f} MB"
        )
        if record.get("command"):
            print(f"{'':<16} {record['command']}")
    return EXIT_OK


def _model_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"-o {path}: a model file ends in .safetensors")
    if path.is_dir():
        raise InputError(f"-o {path}: is a directory")
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise InputError(f"-o {path}: folder {path.parent} does not exist")
    return path


__all__ = ["cmd_apply", "cmd_export", "cmd_models", "cmd_train", "resume_training"]
