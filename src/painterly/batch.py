"""Batches: every photo × every style into one output folder, resumable from a manifest.

Here: finding the photos, naming the outputs (names that cannot collide), the manifest
(``manifest.jsonl`` in the output folder: one JSON line per finished item) and the run
itself, which hands :class:`~painterly.workers.Task` values to an executor and writes what
comes back. Executors: :class:`InProcess` (one worker in this process, the default),
:class:`ProcessPool` (one worker per process) and, in cluster.py, Ray actors. Each has
``map(tasks) -> results`` in the order they finish, and ``close()``.

A rerun skips an item whose record says done, whose photo, style and settings are unchanged
and whose output is still there; it retries what failed and redoes what changed. The
driver is the only writer of the manifest, and an output is written before its record, so
a driver killed at any moment loses at most the items under way.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import glob
import json
import multiprocessing
import os
import string
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from painterly import io
from painterly.errors import InputError
from painterly.workers import Engine, Result, Task, Worker, one_line

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
DEFAULT_NAME = "{stem}__{style}.png"
NAME_FIELDS = ("stem", "style", "dir", "ext")
MANIFEST = "manifest.jsonl"
LOCK = ".painterly-batch.lock"
FILES = ("driver", "shared")  # who reads the photos and writes the results: see run()
RETRIES = 2  # a task whose worker process died is sent again this many times


# --- what to do ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A photo, and its folder relative to the input folder it was found in ('' for a file
    named directly): the ``{dir}`` of output names."""

    path: Path
    dir: str = ""


def find_inputs(
    inputs: Sequence[str], recursive: bool = False, exclude: Path | None = None
) -> list[Source]:
    """The photos that files, folders and glob patterns name, each once, in the order
    given (a folder's and a pattern's sorted by path). A folder and a pattern give images
    (by suffix; a folder skips hidden files, and with ``recursive`` takes its subfolders'
    too, as a pattern takes ``**``); a file named directly is taken whatever its suffix.
    Anything under ``exclude`` (the output folder) is left out, so a rerun never takes its
    own results as photos."""
    found: dict[Path, Source] = {}
    skip = exclude.resolve() if exclude is not None else None
    for text in inputs:
        for source in _expand(text, recursive):
            real = source.path.resolve()
            if skip is not None and real.is_relative_to(skip):
                continue
            found.setdefault(real, source)
    if not found:
        raise InputError(f"no photos found in {' '.join(inputs)}")
    return list(found.values())


def _expand(text: str, recursive: bool) -> list[Source]:
    path = Path(text)
    if path.is_dir():
        walk = path.rglob("*") if recursive else path.iterdir()
        files = sorted(p for p in walk if _is_photo(p, path))
        return [Source(p, _below(p.parent, path)) for p in files]
    if path.is_file():
        return [Source(path)]
    if glob.has_magic(text):
        # {dir} is the folder below the pattern's fixed part ('shoot' of 'shoot/**/*.jpg')
        fixed = Path(*_until_magic(path.parts))
        files = sorted(Path(p) for p in glob.glob(text, recursive=recursive))
        photos = [p for p in files if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        return [Source(p, _below(p.parent, fixed)) for p in photos]
    raise InputError(f"{text}: no such file or folder, and no file matches it")


def _until_magic(parts: tuple[str, ...]) -> list[str]:
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return fixed


def _below(folder: Path, root: Path) -> str:
    """``folder`` relative to ``root``, '' for ``root`` itself."""
    relative = folder.relative_to(root).as_posix()
    return "" if relative == "." else relative


def _is_photo(path: Path, root: Path) -> bool:
    hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
    return path.is_file() and not hidden and path.suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class Item:
    """One photo × one style, and its output's path inside the output folder."""

    source: Source
    style: str
    key: str


def check_name(pattern: str) -> None:
    """An InputError unless ``pattern`` uses only the known fields and ends in a known
    image suffix."""
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise InputError(f"--name {pattern!r}: {exc}") from None
    unknown = used - set(NAME_FIELDS)
    if unknown or "" in used:
        fields = ", ".join("{" + f + "}" for f in NAME_FIELDS)
        raise InputError(f"--name {pattern!r}: unknown field {sorted(unknown)}; use {fields}")
    io.output_format(pattern)


def plan(sources: Sequence[Source], styles: Sequence[str], pattern: str) -> list[Item]:
    """Every source × every style, named by ``pattern``; an InputError when two items
    would be written to the same file, or a name leaves the output folder."""
    check_name(pattern)
    items: dict[str, Item] = {}
    for source in sources:
        for style in styles:
            key = _output_key(pattern, source, style)
            if key in items:
                other = items[key]
                raise InputError(
                    f"{other.source.path} × {other.style} and {source.path} × {style} would "
                    f"both be written to {key}; put {{dir}} or {{ext}} in --name, e.g. "
                    "--name '{dir}/{stem}__{style}.png'"
                )
            items[key] = Item(source, style, key)
    return list(items.values())


def _output_key(pattern: str, source: Source, style: str) -> str:
    path = source.path
    text = pattern.format(stem=path.stem, style=style, dir=source.dir, ext=path.suffix[1:])
    parts = [p for p in PurePosixPath(text.replace(os.sep, "/")).parts if p not in ("/", ".")]
    if not parts or ".." in parts:
        raise InputError(f"--name: {text!r} (for {path}) is not a path inside the output folder")
    return "/".join(parts)


# --- the manifest --------------------------------------------------------------------------


class Manifest:
    """``manifest.jsonl`` in the output folder: one JSON record per finished item (done or
    failed), appended as items finish. :meth:`start` and :meth:`close` keep only each
    item's last record (rewritten atomically), so the file holds one line per item, however
    often the batch is rerun. A line torn by a killed driver is ignored."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST
        self._fh: TextIO | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        """The last record of every item, by output key."""
        records: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return records
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # torn by a kill mid-write: that item is redone
                if isinstance(record, dict) and "key" in record:
                    records[record["key"]] = record
        return records

    def start(self) -> dict[str, dict[str, Any]]:
        """Compact the file and open it for appending; returns the records."""
        records = self.read()
        self._rewrite(records)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        return records

    def _rewrite(self, records: dict[str, dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records.values())
        io.write_atomic(self.path, lambda fh: fh.write(lines.encode()), shared=True)

    def append(self, record: dict[str, Any]) -> None:
        assert self._fh is not None, "start() first"
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()  # a killed driver keeps every finished item's record

    def close(self) -> None:
        """Close, and compact again: one line per item."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._rewrite(self.read())


class Digests:
    """SHA-256 of the photos, each read once; a photo whose size and modification time
    match its previous record keeps that record's digest without being read (as make and
    rsync judge files)."""

    def __init__(self, records: dict[str, dict[str, Any]]) -> None:
        self._known = {
            (r["input"], r.get("size"), r.get("mtime_ns")): r["sha256"]
            for r in records.values()
            if r.get("sha256")
        }
        self._cache: dict[Path, dict[str, Any]] = {}

    def of(self, path: Path) -> dict[str, Any]:
        """``{"input", "size", "mtime_ns", "sha256"}`` of a photo; sha256 None when it
        cannot be read (the item then fails with the reason)."""
        if path not in self._cache:
            try:
                stat = path.stat()
                key = (str(path), stat.st_size, stat.st_mtime_ns)
                digest = self._known.get(key) or io.sha256_file(path)
                self._cache[path] = dict(zip(("input", "size", "mtime_ns"), key, strict=True))
                self._cache[path]["sha256"] = digest
            except OSError:
                self._cache[path] = {"input": str(path), "sha256": None}
        return self._cache[path]


# --- running -------------------------------------------------------------------------------


@dataclass
class Summary:
    """How a batch went: items done now, skipped as up to date, and failed (with the
    error of each), after ``seconds``."""

    done: int = 0
    skipped: int = 0
    failed: list[tuple[Item, str]] = field(default_factory=list)
    seconds: float = 0.0


def run(
    items: Sequence[Item],
    engine: Engine,
    folder: Path,
    start: Callable[[], Any],
    *,
    files: str = "driver",
    on_start: Callable[[int, int], None] | None = None,
    on_result: Callable[[Item, Result], None] | None = None,
) -> Summary:
    """Run the items not yet done into ``folder``; the manifest records each as it ends.
    ``start()`` gives the executor, called only when there is work (a rerun with nothing
    to do starts no workers); it is closed at the end.

    ``files``: ``driver`` (the driver reads each photo and sends its bytes; the result comes
    back and the driver writes it: workers need no shared storage) or ``shared`` (workers
    read the photos and write the results themselves: every node must see these paths).
    ``on_start(todo, skipped)`` is called once the plan is known, ``on_result`` per item.
    """
    if files not in FILES:
        raise InputError(f"--files {files}: expected one of {', '.join(FILES)}")
    began = time.perf_counter()
    folder.mkdir(exist_ok=True)
    with io.Exclusive(folder / LOCK, f"{folder}: another batch is writing there"):
        _sweep_parts(folder)
        manifest = Manifest(folder)
        records = manifest.start()
        try:
            return _run(
                items,
                engine,
                folder,
                start,
                files,
                manifest,
                records,
                began,
                on_start,
                on_result,
            )
        finally:
            manifest.close()


def _run(
    items: Sequence[Item],
    engine: Engine,
    folder: Path,
    start: Callable[[], Any],
    files: str,
    manifest: Manifest,
    records: dict[str, dict[str, Any]],
    began: float,
    on_start: Callable[[int, int], None] | None,
    on_result: Callable[[Item, Result], None] | None,
) -> Summary:
    digests = Digests(records)
    styles = {s.name: s.sha256 for s in engine.styles}
    settings = engine.fingerprint()

    def identity(item: Item) -> dict[str, Any]:
        return {
            **digests.of(item.source.path),
            "key": item.key,
            "style": item.style,
            "style_sha256": styles[item.style],
            "settings": settings,
        }

    todo = [i for i in items if not _up_to_date(identity(i), records.get(i.key), folder)]
    summary = Summary(skipped=len(items) - len(todo))
    if on_start is not None:
        on_start(len(todo), summary.skipped)
    by_key = {item.key: item for item in todo}
    tasks = (_task(item, folder, files) for item in todo)
    executor = start() if todo else None
    try:
        results = executor.map(tasks) if executor is not None else iter(())
        _collect(results, by_key, identity, folder, manifest, summary, on_result)
    finally:
        if executor is not None:
            executor.close()
    summary.seconds = time.perf_counter() - began
    return summary


def _collect(
    results: Iterator[Result],
    by_key: dict[str, Item],
    identity: Callable[[Item], dict[str, Any]],
    folder: Path,
    manifest: Manifest,
    summary: Summary,
    on_result: Callable[[Item, Result], None] | None,
) -> None:
    """Write each result that comes back, and its record."""
    for result in results:
        item = by_key[result.key]
        error = result.error
        if error is None and result.data is not None:
            error = _write(folder / item.key, result.data)
        status = "done" if error is None else "failed"
        manifest.append(
            {
                **identity(item),
                "status": status,
                "error": error,
                "seconds": round(result.seconds, 3),
                "worker": result.worker,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        if error is None:
            summary.done += 1
        else:
            summary.failed.append((item, error))
        if on_result is not None:
            on_result(item, Result(result.key, error, result.seconds, None, result.worker))


def _up_to_date(now: dict[str, Any], before: dict[str, Any] | None, folder: Path) -> bool:
    if before is None or before.get("status") != "done" or now["sha256"] is None:
        return False
    same = all(before.get(k) == now[k] for k in ("sha256", "style_sha256", "settings"))
    return same and (folder / now["key"]).is_file()


def _task(item: Item, folder: Path, files: str) -> Task:
    """The item as a worker gets it: the photo's bytes (read here) or its path."""
    path = item.source.path
    if files == "shared":
        target = (folder / item.key).resolve()  # workers elsewhere have another cwd
        return Task(item.key, str(path.resolve()), item.style, None, str(target))
    try:
        data: bytes | None = path.read_bytes()
    except OSError:
        data = None  # the worker tries the path and reports why it cannot be read
    return Task(item.key, str(path), item.style, data)


def _write(target: Path, data: bytes) -> str | None:
    """Write a result atomically; the error's text when it cannot be written."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        io.write_atomic(target, lambda fh: fh.write(data), shared=True)
        return None
    except OSError as exc:
        return f"cannot write {target}: {exc.strerror or exc}"


def _sweep_parts(folder: Path) -> None:
    """Remove the temporary files of writes cut short by a kill (``.NAME.xxxx.part``)."""
    for part in folder.rglob(".*.part"):
        part.unlink(missing_ok=True)


# --- executors -----------------------------------------------------------------------------


class WorkerLost(Exception):
    """The process running a task died before answering."""


def dispatch(
    tasks: Iterable[Task],
    submit: Callable[[Task], Hashable],
    wait: Callable[[list[Hashable]], Iterable[Hashable]],
    fetch: Callable[[Hashable], Result],
    window: int,
    retries: int = RETRIES,
) -> Iterator[Result]:
    """Keep up to ``window`` tasks in flight and yield their results as they finish; the
    tasks are drawn lazily, so memory does not grow with the batch. ``submit`` starts a
    task and returns a handle; ``wait`` returns the handles that have finished (at least
    one); ``fetch`` gives a finished handle's result or raises WorkerLost, and the task is
    then sent again (``retries`` times, then it fails)."""
    pending: dict[Hashable, tuple[Task, int]] = {}
    queue = iter(tasks)
    while True:
        while len(pending) < window and (task := next(queue, None)) is not None:
            pending[submit(task)] = (task, 1)
        if not pending:
            return
        for handle in wait(list(pending)):
            task, attempts = pending.pop(handle)
            try:
                yield fetch(handle)
            except WorkerLost as exc:
                if attempts > retries:
                    error = f"the worker died on this item {attempts} times ({exc})"
                    yield Result(task.key, error, 0.0)
                else:
                    pending[submit(task)] = (task, attempts + 1)


class InProcess:
    """One worker in this process, loaded on first use: torch uses all the cores."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._worker: Worker | None = None

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]:
        for task in tasks:
            if self._worker is None:
                self._worker = Worker(self.engine)
            yield self._worker.run(task)

    def close(self) -> None:
        self._worker = None


# The worker of a pool process, set by its initializer (or why it could not start: each
# item then fails with that reason, instead of the pool breaking and starting again).
_PROCESS_WORKER: Worker | str | None = None


def _start_process(engine: Engine) -> None:
    global _PROCESS_WORKER
    try:
        _PROCESS_WORKER = Worker(engine)
    except Exception as exc:
        _PROCESS_WORKER = f"the worker could not start: {type(exc).__name__}: {exc}"


def _run_in_process(task: Task) -> Result:
    if isinstance(_PROCESS_WORKER, str) or _PROCESS_WORKER is None:
        return Result(task.key, one_line(str(_PROCESS_WORKER)), 0.0)
    return _PROCESS_WORKER.run(task)


class ProcessPool:
    """``workers`` processes, each with its own worker (the engine loaded once per process)
    and ``cpu_count // workers`` torch threads. A process that dies (killed, out of
    memory) is replaced, and its tasks are sent again."""

    def __init__(self, engine: Engine, workers: int) -> None:
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.engine = dataclasses.replace(engine, threads=engine.threads or threads)
        self.workers = workers
        self._pool: cf.ProcessPoolExecutor | None = None
        self._pools: dict[Hashable, cf.ProcessPoolExecutor] = {}  # the pool of each task

    def _executor(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),  # no forked torch state
                initializer=_start_process,
                initargs=(self.engine,),
            )
        return self._pool

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]:
        def submit(task: Task) -> Hashable:
            pool = self._executor()
            future = pool.submit(_run_in_process, task)
            self._pools[future] = pool
            return future

        def wait(handles: list[Any]) -> Iterable[Hashable]:
            return cf.wait(handles, return_when=cf.FIRST_COMPLETED).done

        def fetch(handle: Any) -> Result:
            pool = self._pools.pop(handle)
            try:
                return handle.result()
            except cf.process.BrokenProcessPool as exc:
                if pool is self._pool:
                    self.close()  # the next submit starts a fresh pool
                raise WorkerLost("its process ended") from exc

        return dispatch(tasks, submit, wait, fetch, window=2 * self.workers)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


__all__ = [
    "DEFAULT_NAME",
    "FILES",
    "MANIFEST",
    "NAME_FIELDS",
    "Digests",
    "InProcess",
    "Item",
    "Manifest",
    "ProcessPool",
    "Source",
    "Summary",
    "WorkerLost",
    "check_name",
    "dispatch",
    "find_inputs",
    "plan",
    "run",
]
