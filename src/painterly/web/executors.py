"""Executors: where a studio job runs.

The Studio hands every job to an executor as a picklable :class:`~painterly.web.jobs.Task`,
with a ``report`` for its progress and a ``cancelled`` check (see ``jobs.Executor``). The
app's default, :func:`run_task`, runs it on the worker thread: a painting through
:func:`painterly.web.jobs.execute`, a clip through :func:`painterly.web.clips.execute`. A
:class:`ProcessExecutor` runs it in a fresh child process, so a crash or the memory of a
large run stays there; reports and cancellation cross over multiprocessing queues, which is
the same shape a cluster executor takes.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

from painterly.errors import InputError, NumericsError
from painterly.web.clips import execute as execute_clip
from painterly.web.jobs import CLIP, Report, Task, execute

POLL_SECONDS = 0.1
_ERRORS: dict[str, type[Exception]] = {"InputError": InputError, "NumericsError": NumericsError}


def run_task(task: Task, report: Report, cancelled: Callable[[], bool]) -> str:
    """Run any task in this process, by its kind; returns "done" or "cancelled"."""
    run = execute_clip if task.kind == CLIP else execute
    return run(task, report, cancelled)


class ProcessExecutor:
    """Runs each task in its own child process (``spawn``: no state is inherited)."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")

    def __call__(self, task: Task, report: Report, cancelled: Callable[[], bool]) -> str:
        messages = self._context.Queue()
        stop = self._context.Event()
        child = self._context.Process(target=_child, args=(task, messages, stop), daemon=True)
        child.start()
        try:
            return _relay(child, messages, stop, report, cancelled)
        finally:
            child.join(5)
            if child.is_alive():
                child.kill()
            messages.close()


def _relay(
    child: Any, messages: Any, stop: Any, report: Report, cancelled: Callable[[], bool]
) -> str:
    """Pass the child's reports on until it says how the task ended."""
    while True:
        if cancelled():
            stop.set()
        try:
            kind, payload = messages.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not child.is_alive() and messages.empty():
                code = child.exitcode
                raise RuntimeError(f"the job's process ended unexpectedly (code {code})") from None
            continue
        if kind == "report":
            report(payload[0], persist=payload[1])
        elif kind == "end":
            return str(payload)
        else:
            name, message = payload
            raise _ERRORS.get(name, RuntimeError)(message)


def _child(task: Task, messages: Any, stop: Any) -> None:
    """In the child: run the task, sending each report and then its end (or its error)."""

    def report(changes: dict[str, Any], persist: bool = False) -> None:
        messages.put(("report", (changes, persist)))

    try:
        messages.put(("end", run_task(task, report, stop.is_set)))
    except (InputError, NumericsError) as exc:
        messages.put(("error", (type(exc).__name__, str(exc))))
    except Exception as exc:  # the server logs it as a failed job
        messages.put(("error", ("RuntimeError", f"{type(exc).__name__}: {exc}")))


__all__ = ["ProcessExecutor", "run_task"]
