"""The studio's jobs: a bounded queue, worker threads that run the library, live state.

A job's life: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled`` (a queued job
can go straight to ``cancelled``). A job is of a *kind*: ``paint`` (a photo and paintings,
the optimisation engine) or ``clip`` (a video through a trained style: web/clips.py). A
worker thread hands each job, as a plain picklable :class:`Task`, to the Studio's
*executor*: by default :func:`execute`, which paints in this process through the same
driver as the CLI and writes a preview JPEG every ``preview_interval`` seconds (the app's
default, ``executors.run_task``, also runs clips). Another executor (a process pool, a
cluster) runs the same functions elsewhere and carries their reports back. Jobs do not
belong to a browser: a client that goes away leaves its job running. State changes wake the
event streams that watch a job (see ``watch``); those live on the server's asyncio loop, the
workers on their own threads, hence ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from painterly import io
from painterly.api import prepare
from painterly.curves import History
from painterly.driver import Driver, Plan
from painterly.errors import InputError, NumericsError
from painterly.inputs import Inputs
from painterly.optimize import Progress
from painterly.settings import Settings
from painterly.web.store import PREVIEW, RESULT, RESULT_TYPES, TERMINAL, Store, result_name

log = logging.getLogger("painterly.web")
HISTORY_DIGITS = 4  # significant digits of the losses in a job's history (a curve's JSON)
PAINT, CLIP = "paint", "clip"  # the kinds of job


class QueueFull(Exception):
    """More jobs are waiting than the queue holds."""


@dataclass(frozen=True)
class Upload:
    """An uploaded input, already saved in the job's folder."""

    role: str  # "content", "style" or "clip"
    name: str  # the file name the browser gave (for people, never for paths)
    path: Path


@dataclass(frozen=True)
class Task:
    """One job's work as plain values, so that it can be sent to another process or
    machine: the uploaded files, the settings, where the result and previews go, the
    names people gave the inputs (for the result's record), the job's kind and the steps
    (or frames) it was admitted with."""

    job_id: str
    content: Path
    styles: tuple[Path, ...]
    settings: dict[str, Any]
    folder: Path
    inputs: tuple[dict[str, Any], ...]
    preview_size: int = 512
    preview_interval: float = 0.5
    kind: str = PAINT
    total: int = 0


class Report(Protocol):
    """Changes to a job's record; ``persist`` also writes the record to disk."""

    def __call__(self, changes: dict[str, Any], persist: bool = False) -> None: ...


# Runs a task to its end and returns "done" or "cancelled"; ``cancelled()`` asks it to stop.
Executor = Callable[[Task, Report, Callable[[], bool]], str]


@dataclass(eq=False)
class Watcher:
    """One event stream waiting for a job's changes, on its own asyncio loop."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class _Live:
    """A job's mutable state; guarded by the Studio's lock."""

    record: dict[str, Any]
    settings: dict[str, Any] | None = None
    uploads: tuple[Upload, ...] = ()
    cancel: threading.Event = field(default_factory=threading.Event)


class Studio:
    """The queue, the workers and every known job (those on disk included)."""

    def __init__(
        self,
        store: Store,
        *,
        queue_size: int = 8,
        workers: int = 1,
        preview_interval: float = 0.5,
        preview_size: int = 512,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.workers = workers
        self.executor: Executor = executor if executor is not None else execute
        self.preview_interval = preview_interval
        self.preview_size = preview_size
        self._lock = threading.Lock()
        self._jobs: dict[str, _Live] = {}
        self._watchers: dict[str, set[Watcher]] = {}
        self._queue: queue.Queue[str] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the jobs on disk (an unfinished one was cut off by a stop), start the workers."""
        self.store.open()
        for record in self.store.records():
            if record.get("state") not in TERMINAL:
                record.update(state="failed", error="the server stopped before this job ended")
                self.store.write_record(record)
            self._jobs[record["id"]] = _Live(record)
        self._evict()
        self._stopping.clear()
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"painterly-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what runs and wait for the workers (a run stops after its current step)."""
        self._stopping.set()
        with self._lock:
            for live in self._jobs.values():
                live.cancel.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    # --- requests ---------------------------------------------------------------------------

    def submit(self, job_id: str, uploads: list[Upload], settings: Settings) -> dict[str, Any]:
        """Queue a painting whose inputs are saved in its folder; QueueFull when no room is
        left."""
        return self.enqueue(job_id, uploads, PAINT, settings.to_dict(), settings.total_steps)

    def enqueue(
        self,
        job_id: str,
        uploads: list[Upload],
        kind: str,
        settings: dict[str, Any],
        total: int,
        result_format: str = "png",
        **details: Any,
    ) -> dict[str, Any]:
        """Queue a job of ``kind`` (its executor reads ``settings``) that takes ``total``
        steps or frames and makes a ``result_format`` file; ``details`` go into its record
        as they are. QueueFull when no room is left."""
        if result_format not in RESULT_TYPES:
            raise ValueError(f"result_format={result_format!r}")
        record = {
            "id": job_id,
            "kind": kind,
            "format": result_format,
            "state": "queued",
            "created": time.time(),
            "started": None,
            "finished": None,
            "step": 0,
            "total": total,
            "losses": {},
            "history": History().to_dict(),
            "elapsed": 0.0,
            "eta": None,
            "size": None,
            "error": None,
            "preview": None,
            "result": False,
            "settings": settings,
            "inputs": [
                {"role": u.role, "name": u.name, "sha256": io.sha256_file(u.path)} for u in uploads
            ],
            **details,
        }
        with self._lock:
            self._jobs[job_id] = _Live(record, dict(settings), tuple(uploads))
            try:
                self._queue.put_nowait(job_id)
            except queue.Full:
                del self._jobs[job_id]
                raise QueueFull from None
        self.store.write_record(record)
        return dict(record)

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A copy of the job's record, or None if there is no such job."""
        with self._lock:
            live = self._jobs.get(job_id)
            return _copy(live.record) if live is not None else None

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest jobs first."""
        with self._lock:
            records = [_copy(live.record) for live in self._jobs.values()]
        return sorted(records, key=lambda r: r["created"], reverse=True)[:limit]

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued or running job (a running one stops after its current step)."""
        with self._lock:
            live = self._jobs.get(job_id)
            if live is None:
                return None
            live.cancel.set()
            queued = live.record["state"] == "queued"
        if queued:  # the worker will skip it: its uploads go now
            _remove_inputs(live)
            self._finish(job_id, "cancelled")
        return self.get(job_id)

    def file(self, job_id: str, name: str) -> Path | None:
        """``preview.jpg`` or the result (``result.png``, ``result.mp4`` ...) of a known
        job, if it exists."""
        names = {PREVIEW} | {result_name(f) for f in RESULT_TYPES}
        if name not in names or self.get(job_id) is None:
            return None
        path = self.store.folder(job_id) / name
        return path if path.is_file() else None

    # --- watching (called on the asyncio loop) ----------------------------------------------

    def watch(self, job_id: str) -> Watcher:
        watcher = Watcher(asyncio.get_running_loop())
        with self._lock:
            self._watchers.setdefault(job_id, set()).add(watcher)
        return watcher

    def unwatch(self, job_id: str, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.get(job_id, set()).discard(watcher)

    def _notify(self, job_id: str) -> None:
        with self._lock:
            watchers = list(self._watchers.get(job_id, ()))
        for watcher in watchers:
            try:
                watcher.loop.call_soon_threadsafe(watcher.event.set)
            except RuntimeError:  # that loop has closed: the stream is gone
                self.unwatch(job_id, watcher)

    # --- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._lock:  # claim the job, so that a cancel from now on stops a run
                live = self._jobs.get(job_id)
                if live is None or live.cancel.is_set():  # gone, or cancelled while it waited
                    continue
                live.record["state"] = "running"
            self._run(job_id, live)

    def _run(self, job_id: str, live: _Live) -> None:
        """Run one job to its end, whatever happens; the inputs are removed afterwards."""
        self._update(job_id, state="running", started=time.time(), persist=True)
        try:
            state = self.executor(
                self._task(job_id, live), self._reporter(job_id), live.cancel.is_set
            )
            self._finish(job_id, state)
        except (InputError, NumericsError) as exc:
            self._finish(job_id, "failed", str(exc))
        except Exception as exc:  # a bug or a failed run: keep serving, say what happened
            log.exception("job %s failed", job_id)
            self._finish(job_id, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            _remove_inputs(live)
            self._evict()

    def _task(self, job_id: str, live: _Live) -> Task:
        assert live.settings is not None
        with self._lock:
            inputs = tuple(dict(entry) for entry in live.record["inputs"])
            kind, total = live.record.get("kind", PAINT), live.record["total"]
        return Task(
            job_id,
            live.uploads[0].path,
            tuple(u.path for u in live.uploads[1:]),
            dict(live.settings),
            self.store.folder(job_id),
            inputs,
            self.preview_size,
            self.preview_interval,
            kind,
            total,
        )

    def _reporter(self, job_id: str) -> Report:
        def report(changes: dict[str, Any], persist: bool = False) -> None:
            self._update(job_id, persist=persist, **changes)

        return report

    def _update(self, job_id: str, *, persist: bool = False, **changes: Any) -> None:
        with self._lock:
            live = self._jobs[job_id]
            live.record.update(changes)
            record = _copy(live.record)
        if persist:
            self.store.write_record(record)
        self._notify(job_id)

    def _finish(self, job_id: str, state: str, error: str | None = None) -> None:
        self._update(
            job_id,
            state=state,
            error=error,
            finished=time.time(),
            eta=None,
            result=state == "done",
            persist=True,
        )

    def _evict(self) -> None:
        with self._lock:
            records = sorted(
                (_copy(live.record) for live in self._jobs.values()), key=lambda r: r["created"]
            )
        for job_id in self.store.evict(records):
            with self._lock:
                self._jobs.pop(job_id, None)


def execute(task: Task, report: Report, cancelled: Callable[[], bool]) -> str:
    """Run one task in this process through the driver; returns "done" or "cancelled".

    Reports the resolved settings, then each step's progress with the loss history so far
    (the curves), and a preview JPEG at most every ``task.preview_interval`` seconds (and at
    the end, or when cancelled).
    """
    inputs = Inputs.of(task.content, list(task.styles))
    job = prepare(inputs, Settings.from_dict(task.settings))
    report({"settings": job.record["settings"], "total": job.total_steps}, persist=True)
    names = list(task.inputs)
    styles = [[entry["name"], w] for entry, (_, w) in zip(names[1:], inputs.styles, strict=True)]
    metadata = {**job.record, "content": names[0]["name"], "styles": styles, "inputs": names}
    shown = 0.0

    def on_step(progress: Progress) -> None:
        nonlocal shown
        fields = _progress_fields(progress)
        fields["history"] = driver.history.to_dict(HISTORY_DIGITS)
        if progress.done or time.monotonic() - shown >= task.preview_interval:
            save_preview(task, progress.image())
            fields["preview"] = progress.step
            shown = time.monotonic()
        report(fields)

    driver = Driver(job, Plan(task.folder / RESULT, metadata=metadata))
    outcome = driver.run(on_step, cancelled)
    if outcome.state == "stopped":
        if outcome.last is not None:
            save_preview(task, outcome.last.image())
            report({"preview": outcome.last.step})
        return "cancelled"
    return "done"


def save_preview(task: Task, image: torch.Tensor) -> None:
    """Write the preview JPEG of ``image`` ``(1, 3, H, W)``, at most ``preview_size`` px."""
    picture = io.to_pil(image)
    picture.thumbnail((task.preview_size, task.preview_size))
    io.save_image(picture, task.folder / PREVIEW)


def check_image(path: Path, max_pixels: int) -> None:
    """Raise InputError unless ``path`` is an image the library can read (it is decoded)."""
    io.open_image(path, max_pixels).close()


def plain_message(exc: InputError) -> str:
    """The library's message without the server-side path it starts with."""
    message = str(exc)
    head, sep, rest = message.partition(": ")
    return rest if sep and ("/" in head or "\\" in head) else message


def _remove_inputs(live: _Live) -> None:
    """Uploads are kept only until their job ends; the record keeps their checksums."""
    for upload in live.uploads:
        upload.path.unlink(missing_ok=True)


def _progress_fields(progress: Progress) -> dict[str, Any]:
    remaining = progress.total - progress.step
    return {
        "step": progress.step,
        "total": progress.total,
        "losses": dict(progress.losses),
        "elapsed": round(progress.elapsed, 3),
        "eta": round(progress.elapsed / progress.step * remaining, 1) if progress.step else None,
        "size": list(progress.size),
    }


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough that callers never see the worker's later changes."""
    return {
        k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v
        for k, v in record.items()
    }


__all__ = [
    "CLIP",
    "PAINT",
    "Executor",
    "QueueFull",
    "Studio",
    "Task",
    "Upload",
    "Watcher",
    "check_image",
    "execute",
    "plain_message",
    "save_preview",
]
