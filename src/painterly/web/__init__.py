"""The web studio: ``painterly serve`` (needs the ``painterly[web]`` extra).

A local page to choose a photo and paintings, set the options, watch the picture being
painted and download it, or a short clip to stylise with a trained style; behind it a JSON
API (docs/web.md). Another consumer of the same
``Job.run()`` stream as the CLI: nothing in the core imports this package.

Bound to loopback (the default) it answers only loopback host names; bound to any other
address it requires a token, generated and printed at start unless ``--token`` gives one.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import NoReturn

import uvicorn

from painterly.errors import InputError
from painterly.web.app import create_app
from painterly.web.clips import ClipLimits
from painterly.web.executors import ProcessExecutor

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_PORT = 65535


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # the CLI prints one line and exits 2
        raise InputError(f"serve: {message}")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/painterly/studio``, else ``~/.local/share/painterly/studio``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "painterly" / "studio"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="painterly serve", description="Run the painterly web studio.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0: any free)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where jobs are kept (default: painterly/studio in $XDG_DATA_HOME or ~/.local/share)",
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="largest upload, all files (default: 20)"
    )
    clip = ClipLimits()
    p.add_argument(
        "--max-clip-mb",
        type=float,
        default=clip.max_bytes / 2**20,
        help=f"largest clip upload (default: {clip.max_bytes // 2**20})",
    )
    p.add_argument(
        "--max-clip-seconds",
        type=float,
        default=clip.max_seconds,
        help=f"longest clip (default: {clip.max_seconds:g})",
    )
    p.add_argument(
        "--max-clip-frames",
        type=int,
        default=clip.max_frames,
        help=f"most frames in a clip (default: {clip.max_frames})",
    )
    p.add_argument(
        "--max-data-mb",
        type=float,
        default=2048.0,
        help="size cap of the data dir; the oldest jobs go first (default: 2048)",
    )
    p.add_argument(
        "--queue-size", type=int, default=8, help="jobs that may wait; then 429 (default: 8)"
    )
    p.add_argument("--workers", type=int, default=1, help="jobs run at the same time (default: 1)")
    p.add_argument(
        "--isolate",
        action="store_true",
        help="run each job in a process of its own (a crash or a large run's memory stays there)",
    )
    p.add_argument("--token", default=None, help="token for a non-loopback address")
    return p


def serve_main(argv: list[str]) -> int:
    """Parse ``painterly serve`` options, print the address, serve until Ctrl-C."""
    args = build_parser().parse_args(argv)
    _check(args)
    loopback = is_loopback(args.host)
    token = None if loopback and args.token is None else args.token or secrets.token_urlsafe(24)
    sock = _listen(args.host, args.port)
    app = create_app(
        args.data_dir,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_data_bytes=int(args.max_data_mb * 2**20),
        queue_size=args.queue_size,
        workers=args.workers,
        executor=ProcessExecutor() if args.isolate else None,
        token=token,
        hosts=LOOPBACK_NAMES if loopback else None,
        clip_limits=ClipLimits(
            int(args.max_clip_mb * 2**20), args.max_clip_seconds, args.max_clip_frames
        ),
    )
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"painterly studio: {url}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= MAX_PORT:
        raise InputError(f"serve: --port {args.port}: must be between 0 and {MAX_PORT}")
    for name in (
        "max_upload_mb",
        "max_data_mb",
        "max_clip_mb",
        "max_clip_seconds",
        "max_clip_frames",
    ):
        if not getattr(args, name) > 0:
            raise InputError(f"serve: --{name.replace('_', '-')} must be positive")
    if args.queue_size < 1 or args.workers < 1:
        raise InputError("serve: --queue-size and --workers must be at least 1")
    if args.token is not None and len(args.token) < 16:
        raise InputError("serve: --token must be at least 16 characters")
    if args.data_dir is None:
        args.data_dir = default_data_dir()
    try:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"serve: --data-dir {args.data_dir}: {exc.strerror}") from None


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so a busy port is one clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family)
    except (OSError, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"serve: cannot listen on {host}:{port}: {reason}") from None


__all__ = ["create_app", "default_data_dir", "serve_main"]
