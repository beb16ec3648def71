"""A batch on Ray (``painterly[cluster]``): workers are actors, items are tasks.

Each actor holds one :class:`~painterly.workers.Worker`, so the engine is loaded once per
actor, not per item. Ray places the actors on the cluster's nodes. When an actor's process
dies (killed, out of memory, its node lost), a new actor takes its place and the calls it
had are sent again, as batch.dispatch does for a local process pool: the same retry rule
for both. The driver keeps a few calls in flight per actor, so neither its memory nor
Ray's object store grows with the batch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from painterly.batch import WorkerLost, dispatch
from painterly.errors import InputError
from painterly.workers import Engine, Result, Task, Worker

IN_FLIGHT = 2  # calls queued per actor: the next item is there when one finishes
DEFAULT_WORKER_CPUS = 2


class BatchWorker(Worker):
    """The actor: a Worker (its own class, so Ray names its processes ray::BatchWorker)."""


def require() -> Any:
    """The ray module, or an InputError that says which extra to install."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'painterly[cluster]'") from None
    return ray


def connect(address: str) -> bool:
    """Connect to the cluster at ``address``; ``auto``: ``RAY_ADDRESS`` when set, else a
    new local cluster on this machine's cores. Returns whether this call connected (and so
    should disconnect); False when Ray was already initialised in this process."""
    ray = require()
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    target = os.environ.get("RAY_ADDRESS") if address == "auto" else address
    try:
        if target:
            ray.init(address=target, **quiet)
        else:
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
    except Exception as exc:  # Ray raises several kinds for an unreachable cluster
        raise InputError(f"--ray {address}: cannot connect ({_first_line(exc)})") from None
    return True


def worker_shape(workers: int | None, cpus: int | None) -> tuple[int, int]:
    """``(workers, cpus each)``: by default one worker per DEFAULT_WORKER_CPUS of the
    cluster; with ``workers`` only, the cluster's CPUs shared out, no more than the largest
    node has (else an actor could not be placed)."""
    ray = require()
    total = int(ray.cluster_resources().get("CPU", 1))
    largest = max(
        (int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]), default=total
    )
    if cpus is None:
        cpus = min(largest, DEFAULT_WORKER_CPUS if workers is None else max(1, total // workers))
    if cpus > largest:
        raise InputError(f"--worker-cpus {cpus}: the largest node has {largest} CPUs")
    room = sum(int(n["Resources"].get("CPU", 0)) // cpus for n in ray.nodes() if n["Alive"])
    if workers is not None and workers > room:
        raise InputError(
            f"--workers {workers}: the cluster has room for {room} worker(s) of {cpus} CPU(s); "
            "an actor that cannot be placed would wait for ever"
        )
    return (workers or max(1, room)), cpus


class RayExecutor:
    """``workers`` actors of ``cpus`` CPUs each (torch threads to match). An actor whose
    process died is replaced by a new one, and its calls are sent again (batch.dispatch)."""

    def __init__(
        self,
        engine: Engine,
        address: str = "auto",
        workers: int | None = None,
        cpus: int | None = None,
    ) -> None:
        self._owns = connect(address)
        ray = require()
        self.actors: list[Any] = []
        try:
            self.workers, self.cpus = worker_shape(workers, cpus)
            self._class = ray.remote(BatchWorker).options(num_cpus=self.cpus)
            # in the object store once, however many actors load it (and load it again)
            self._engine = ray.put(dataclasses.replace(engine, threads=self.cpus))
            self.actors = [self._class.remote(self._engine) for _ in range(self.workers)]
        except BaseException:
            self.close()
            raise

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]:
        ray = require()
        load = [0] * len(self.actors)
        owner: dict[Hashable, tuple[int, Any]] = {}

        def submit(task: Task) -> Hashable:
            index = min(range(len(load)), key=load.__getitem__)
            actor = self.actors[index]
            ref = actor.run.remote(task)
            owner[ref] = (index, actor)
            load[index] += 1
            return ref

        def wait(refs: list[Any]) -> Iterable[Hashable]:
            return ray.wait(refs, num_returns=1)[0]

        def fetch(ref: Any) -> Result:
            index, actor = owner.pop(ref)
            load[index] -= 1
            try:
                return ray.get(ref)
            except ray.exceptions.RayActorError as exc:  # its process died
                if self.actors[index] is actor:  # the first of its calls to say so
                    self.actors[index] = self._class.remote(self._engine)
                raise WorkerLost(_first_line(exc)) from exc
            except ray.exceptions.RayError as exc:  # e.g. killed by Ray's memory monitor
                raise WorkerLost(_first_line(exc)) from exc

        return dispatch(tasks, submit, wait, fetch, IN_FLIGHT * len(self.actors))

    def close(self) -> None:
        ray = require()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._owns and ray.is_initialized():
            ray.shutdown()
            self._owns = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["BatchWorker", "RayExecutor", "connect", "require", "worker_shape"]
