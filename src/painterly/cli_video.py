"""``painterly video``: a clip stylised with either engine; ``cli.main`` dispatches here.

painterly video INPUT [STYLE ...] -o OUTPUT [--model MODEL] [--temporal T] ...
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from painterly.console import (
    EXIT_OK,
    PROG,
    Parser,
    add_engine_flags,
    check_not_an_input,
    given_settings,
    parse_style,
    progress_bar,
    say,
)
from painterly.errors import InputError
from painterly.settings import APPLY_COLOUR_MODES, WEIGHT_SOURCES, Settings, video_settings

FLOW_PRESETS = ("ultrafast", "fast", "medium")  # flow.PRESETS
DEFAULTS = {"temporal": 0.6, "frame_steps": 24, "codec": "libx264", "crf": 18, "flow_scale": 0.5}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} video",
        description="Stylise a clip: with --model (the fast engine, in real time) or with "
        "paintings (the optimisation engine); the sound is copied. A killed run continues "
        "when the same command is run again.",
    )
    p.add_argument("input", help="a video file (mp4, mov, mkv, webm) or a folder of frames")
    p.add_argument(
        "styles",
        nargs="*",
        metavar="STYLE",
        help="painting(s): the optimisation engine; PATH:WEIGHT blends",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="a video file (.mp4 .mov .mkv .webm) or a folder for frame_00000.png ...",
    )
    p.add_argument(
        "--model", metavar="MODEL", help="a trained model (file or bundled name): the fast engine"
    )
    p.add_argument(
        "--temporal",
        type=float,
        default=DEFAULTS["temporal"],
        metavar="T",
        help="tie each frame to the previous one along the optical flow; 0: frame "
        f"by frame, 1: strongest (default: {DEFAULTS['temporal']})",
    )
    p.add_argument(
        "--frame-steps",
        type=int,
        default=DEFAULTS["frame_steps"],
        metavar="N",
        help="optimisation steps per frame after the first, which is a still; two thirds "
        "of them at the still's next coarser scale where it has one, the rest at full size "
        f"(default: {DEFAULTS['frame_steps']})",
    )
    p.add_argument(
        "--flow",
        default="medium",
        metavar="PRESET",
        help="DIS optical-flow preset: ultrafast, fast or medium (default: medium)",
    )
    p.add_argument(
        "--flow-scale",
        type=float,
        default=DEFAULTS["flow_scale"],
        metavar="S",
        help="compute the flow on frames shrunk to S of their size, 0.1 to 1; 1 is the "
        f"most precise and four times the cost of 0.5 (default: {DEFAULTS['flow_scale']})",
    )
    p.add_argument(
        "--codec",
        default=DEFAULTS["codec"],
        help=f"video encoder, e.g. libx264, libx265, libvpx-vp9 (default: {DEFAULTS['codec']})",
    )
    p.add_argument(
        "--crf",
        type=int,
        default=DEFAULTS["crf"],
        metavar="N",
        help=f"quality for x264, x265 and VP9; lower is better (default: {DEFAULTS['crf']})",
    )
    p.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="x264's or x265's speed preset, ultrafast ... slower; veryfast encodes 2.7x "
        "faster than medium, a little less sharp (default: the encoder's, medium)",
    )
    recipe = video_settings()  # the optimisation engine's recipe for a clip
    add_engine_flags(p, recipe, own=("preserve_color",))
    p.add_argument(
        "--preserve-color",
        default=argparse.SUPPRESS,
        choices=APPLY_COLOUR_MODES,
        help="whose colours every frame keeps; luminance: the clip's, with the style on "
        "brightness only; painting: the painting's palette, "
        f"with --model the one the model records (default: {recipe.preserve_color})",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return p


def cmd_video(argv: list[str]) -> int:
    began = time.perf_counter()
    args = build_parser().parse_intermixed_args(argv)  # paintings may follow the options
    _check(args)
    given = given_settings(args, bool(args.model), "paintings")
    if "weights" in given and args.weights not in WEIGHT_SOURCES:
        raise InputError(f"--weights {args.weights}: video takes {', '.join(WEIGHT_SOURCES)}")
    source, output = Path(args.input), Path(args.output).absolute()
    if source.is_dir() and not any(source.iterdir()):
        raise InputError(f"{source}: an empty folder")
    check_not_an_input(output, [str(source)])

    from painterly import video, videoio  # torch and PyAV load here, after the cheap checks

    output = videoio.check_output(output, args.codec)
    settings = video_settings(**{k: getattr(args, k) for k in given})
    reader = videoio.Reader(source, settings.max_input_pixels)
    videoio.check_whole(reader)
    videoio.check_container(output, args.codec, source if reader.info.audio else None)
    size = settings.size if ("size" in given or not args.model) else None
    colour = settings.preserve_color  # the clip's recipe's unless given
    vs = video.VideoSettings(
        size,
        colour,
        args.temporal,
        args.flow,
        args.frame_steps,
        args.codec,
        args.crf,
        video.frames_per_segment(float(reader.info.rate), not args.model),
        args.flow_scale,
        args.preset,
    )
    # luminance is put in after the engine; painting is the optimisation engine's own mode
    engine_colour = "painting" if colour == "painting" else "none"
    engine, record = _engine(args, settings.replace(preserve_color=engine_colour))
    key = video.fingerprint(source, record, vs)
    done = video.Work.peek(output, key)  # a resumed run's bar starts where it left off
    bar = progress_bar(reader.info.frames or 0, args.quiet, initial=done, unit="frame")
    try:
        pace = video.run(
            reader,
            engine,
            output,
            vs,
            key,
            on_frame=(lambda _: bar.update(1)) if bar is not None else None,
        )
    except KeyboardInterrupt:
        say("interrupted; run the same command again to continue from the last finished frames")
        raise
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        say(f"wrote {output}" + (_pace(pace, began) if pace.frames else ""))
    return EXIT_OK


def _pace(pace: Any, began: float) -> str:
    """How fast the frames went: those painted in this run over the seconds of the frame
    loop (decoding, painting, encoding to the last frame written), and the whole command
    (with the start-up: loading torch, OpenVINO and PyAV, the model, the sound's copy)."""
    rate = pace.frames / max(pace.seconds, 1e-9)
    return (
        f": {pace.frames} frames in {pace.seconds:.1f} s, {rate:.1f} frames/s (the whole "
        f"command {time.perf_counter() - began:.1f} s)"
    )


def _check(args: argparse.Namespace) -> None:
    if bool(args.model) == bool(args.styles):
        raise InputError(
            "give paintings (the optimisation engine) or --model (the fast "
            "engine), not both or neither"
        )
    if args.flow not in FLOW_PRESETS:
        raise InputError(f"--flow {args.flow}: expected one of {', '.join(FLOW_PRESETS)}")


def _engine(args: argparse.Namespace, settings: Settings) -> tuple[Any, dict[str, Any]]:
    """The engine, and what the run's fingerprint records of it."""
    from painterly import fast, io, video

    if args.model:
        model = fast.load_model(args.model, args.runtime, settings.device)
        if settings.preserve_color == "painting":
            fast.model_palette(model)  # a model without a palette: refused before any work
        return video.FastFrames(model), {"model": model.name, "record": model.record}
    styles = tuple(parse_style(s) for s in args.styles)
    for path, _ in styles:
        io.load_image(path, settings.max_input_pixels)  # a clear error now
    record = {
        "styles": [[io.sha256_file(Path(p)), w] for p, w in styles],
        "settings": settings.to_dict(),
    }
    return video.OptimFrames(styles, settings, args.frame_steps), record


__all__ = ["build_parser", "cmd_video"]
