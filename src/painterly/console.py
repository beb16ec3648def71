"""What every painterly command shares: the one-line argument parser, messages on stderr, the
progress bar, Ctrl-C that stops after the step under way, and flags built from Settings.
With cli.py and cli_fast.py, the only place that prints or exits; imports no torch."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import typing
from pathlib import Path
from typing import Any, NoReturn

from painterly.errors import InputError
from painterly.settings import Settings

PROG = "painterly"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(InputError):
    """A command-line problem found by argparse."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        raise UsageError(message)


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def split_list(cast: Any) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        return tuple(cast(part.strip()) for part in text.split(",") if part.strip())

    parse.__name__ = f"comma-separated {cast.__name__}"
    return parse


def _flag_type(hint: Any) -> Any:
    """argparse type for a Settings annotation: int, float, str, or comma lists of them."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return split_list(typing.get_args(hint)[0])
    if args:  # Optional[...] / X | None
        return _flag_type(args[0])
    return hint


def _with_words(cast: Any, words: dict[str, Any]) -> Any:
    """An argparse type that also takes the field's words (e.g. ``auto``) for their values."""

    def parse(text: str) -> Any:
        return words[text] if text in words else cast(text)

    parse.__name__ = f"{cast.__name__} or {' or '.join(words)}"
    return parse


def add_setting_flags(
    parser: argparse.ArgumentParser, names: list[str], defaults: Settings | None = None
) -> None:
    """A ``--flag`` for each named Settings field: type, choices, help, default and bounds
    from the field; a flag not given leaves the attribute unset (argparse.SUPPRESS).
    ``defaults``: where the command starts from, when not from ``Settings()`` (the help
    shows its values)."""
    hints = typing.get_type_hints(Settings)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for name in names:
        f = fields[name]
        kind = _flag_type(hints[f.name])
        if "words" in f.metadata:
            kind = _with_words(kind, f.metadata["words"])
        default = f.default if defaults is None else getattr(defaults, name)
        kwargs: dict[str, Any] = {"type": kind, "help": _flag_help(f, default)}
        if "choices" in f.metadata and f.metadata.get("input") is None and hints[f.name] is str:
            kwargs["choices"] = f.metadata["choices"]  # layer lists: checked by Settings
        parser.add_argument(f"--{f.name.replace('_', '-')}", default=argparse.SUPPRESS, **kwargs)


# The Settings the feed-forward engine takes; every other one is the optimisation engine's.
FAST_SETTINGS = ("size", "preserve_color", "device", "max_input_megapixels")


RUNTIMES = ("auto", "torch", "onnxruntime", "openvino")  # fast.RUNTIMES, without torch loaded


def add_engine_flags(
    parser: argparse.ArgumentParser, defaults: Settings | None = None, own: tuple[str, ...] = ()
) -> None:
    """The flags of a command that runs either engine (batch, video): ``--runtime`` for
    the fast engine, and a flag for every Settings field but those the command defines
    itself (``own``; ``defaults``: as in :func:`add_setting_flags`)."""
    parser.add_argument(
        "--runtime",
        default="auto",
        choices=RUNTIMES,
        help="fast engine: auto is the fastest installed on the CPU: OpenVINO, else ONNX "
        "Runtime, else PyTorch (default: auto)",
    )
    names = [f.name for f in dataclasses.fields(Settings) if f.name not in own]
    add_setting_flags(parser, names, defaults)


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """``--bit-depth`` and ``--dpi``, for a command that writes stills (io.OutputOptions
    checks them)."""
    parser.add_argument(
        "--bit-depth",
        type=int,
        default=8,
        metavar="{8,16}",
        help="bits a colour channel of the result; 16 for PNG and TIFF (default: 8)",
    )
    parser.add_argument(
        "--dpi",
        type=int,
        metavar="N",
        help="the print resolution to record in the result, pixels per inch (default: none)",
    )


def given_settings(args: argparse.Namespace, model: bool, engine: str) -> set[str]:
    """The Settings fields given as flags; with ``model`` (the fast engine), an InputError
    for a flag only the optimisation engine takes (``engine``: how its styles are given)."""
    given = {f.name for f in dataclasses.fields(Settings) if f.name in vars(args)}
    extra = sorted(given - set(FAST_SETTINGS)) if model else []
    if extra:
        flag = "--" + extra[0].replace("_", "-")
        raise InputError(f"{flag} is for the optimisation engine ({engine}), not --model")
    return given


def _flag_help(f: dataclasses.Field[Any], default: Any) -> str:
    """The field's help with its default and its bounds in one parenthesis, from the field's
    metadata; a help text that ends by saying what its default means ("... (default:
    equal)") keeps those words in place of the value."""
    rules = f.metadata
    text, said = _said_default(rules["help"])
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    notes = [said or f"default: {shown}"]
    if rules.get("positive"):
        notes.append("> 0")
    if rules.get("min") is not None:
        notes.append(f">= {rules['min']}")
    if rules.get("max") is not None and rules["max"] < 1e6:
        notes.append(f"<= {rules['max']}")
    return f"{text} ({'; '.join(notes)})"


def _said_default(text: str) -> tuple[str, str | None]:
    """``"help (default: words)"`` -> ``("help", "default: words")``; else ``(text, None)``."""
    head, sep, tail = text.rpartition(" (default: ")
    if not sep or not tail.endswith(")") or "(" in tail:
        return text, None
    return head, f"default: {tail[:-1]}"


def check_not_an_input(output: Path, inputs: list[str]) -> None:
    """An InputError if ``output`` is the same file as one of ``inputs``."""
    target = output.resolve()
    for source in inputs:
        if Path(source).resolve() == target:
            raise InputError(f"{output}: the output would overwrite the input {source}")


def parse_style(text: str) -> tuple[str, float]:
    """``PATH`` or ``PATH:WEIGHT`` (a path that exists as written wins over the split)."""
    path, sep, weight = text.rpartition(":")
    if not sep or os.path.exists(text):
        return text, 1.0
    try:
        value = float(weight)
    except ValueError:
        return text, 1.0
    if not value > 0 or value == float("inf"):
        raise InputError(f"style {text!r}: blend weight must be a positive number")
    return path, value


class StopAfterStep:
    """Ctrl-C during a run asks it to stop after the step under way, so the image and the
    checkpoint written then are consistent; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopAfterStep:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        say("stopping after this step (Ctrl-C again to stop at once)")


def show_progress(bar: Any, progress: Any) -> None:
    if bar is not None:
        bar.set_postfix_str(_format_losses(progress.losses), refresh=False)
        bar.update(1)


def progress_bar(total: int, quiet: bool, initial: int = 0, unit: str = "step") -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    # mininterval=0: a step is at least tens of milliseconds, so every step may redraw;
    # items of a batch may take a millisecond, so those redraw ten times a second.
    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=False,
        mininterval=0 if unit == "step" else 0.1,
    )


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in losses.items())
