"""One driver of a run: the Progress stream of a prepared job turned into files.

Every front end (the CLI, the web studio, later video and batch) runs a job the same way:
intermediate images every N steps, a checkpoint every N steps and when asked to stop, the
result written atomically with its record, the checkpoint removed once the result is there,
and the loss curves (every step's losses, kept in ``history``) plotted when planned.
What a front end adds (a progress bar, previews, a summary) it does in ``on_step``; when it
wants the run to stop, ``should_stop`` says so and the run ends after the step under way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painterly import checkpoint, curves, io
from painterly.api import Job
from painterly.curves import History
from painterly.errors import InputError
from painterly.optimize import Progress, RunState
from painterly.settings import DEFAULT_CHECKPOINT_EVERY


@dataclass(frozen=True)
class Plan:
    """Where a run's files go: the result, every ``save_every``-th step as
    ``OUTPUT_stepNNNNN.EXT`` (0: none), and a resumable checkpoint every
    ``checkpoint_every`` steps (None: none). ``metadata`` is written with every image
    (None: the job's record), as ``options`` say (bits a channel, dpi). ``plot``: a PNG of
    the loss curves, written after the result (and with the image so far when the run is
    stopped); None: none."""

    output: Path
    save_every: int = 0
    checkpoint: Path | None = None
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    metadata: dict[str, Any] | None = None
    plot: Path | None = None
    options: io.OutputOptions = io.OutputOptions()

    def __post_init__(self) -> None:
        if self.save_every < 0 or self.checkpoint_every < 1:
            raise InputError(
                f"save_every={self.save_every} must be >= 0 and "
                f"checkpoint_every={self.checkpoint_every} >= 1"
            )

    def step_path(self, step: int) -> Path:
        return self.output.with_name(f"{self.output.stem}_step{step:05d}{self.output.suffix}")


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``done`` (the result is written) or ``stopped`` (asked to stop;
    a checkpoint, if planned, is of ``last``), after ``seconds``."""

    state: str
    last: Progress | None
    seconds: float


def _never() -> bool:
    return False


class Driver:
    """Runs one prepared job to its end according to a :class:`Plan`.

    ``resume`` continues from a checkpoint's state; ``checksums`` are the inputs' digests
    recorded in checkpoints (computed from the job's input files when not given).
    ``last`` is the latest completed step, also after an exception (e.g. Ctrl-C);
    ``history`` holds every completed step's losses (a resumed run's from its checkpoint on,
    or from the start when ``history`` is given: the checkpoint's). Every image carries the
    kept EXIF of the content photo (when it is a file).
    """

    def __init__(
        self,
        job: Job,
        plan: Plan,
        *,
        resume: RunState | None = None,
        checksums: dict[str, str] | None = None,
        history: History | None = None,
    ) -> None:
        self.job = job
        self.plan = plan
        self.resume = resume
        self.metadata = plan.metadata if plan.metadata is not None else job.record
        self.exif = io.camera_exif(job.inputs.content)
        if plan.checkpoint is not None and checksums is None:
            checksums = checkpoint.checksums(job.inputs.files())
        self.checksums = checksums or {}
        self.last: Progress | None = None
        self.history = history if history is not None else History()

    def run(
        self,
        on_step: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] = _never,
    ) -> Outcome:
        """Run to the end (or until ``should_stop()``); NumericsError and KeyboardInterrupt
        pass through, with ``last`` set."""
        began = time.perf_counter()
        stream = self.job.run(self.resume)
        try:
            for progress in stream:
                self.last = progress
                self.history.add(progress)
                if on_step is not None:
                    on_step(progress)
                if self._after_step(progress, should_stop()):
                    return Outcome("stopped", progress, time.perf_counter() - began)
        finally:
            stream.close()  # stops the optimisation if we left early
        if self.last is None:  # resumed at the last step: nothing left to do
            raise InputError(f"{self.plan.checkpoint}: the run had already finished")
        self._write(self.last.image(), self.plan.output, self.metadata)
        if self.plan.checkpoint is not None:
            self.plan.checkpoint.unlink(missing_ok=True)  # the run is complete
        self.save_plot()
        return Outcome("done", self.last, time.perf_counter() - began)

    def _after_step(self, progress: Progress, stopping: bool) -> bool:
        """Intermediates and checkpoints after one step; True when the run is to stop."""
        plan, step = self.plan, progress.step
        if plan.save_every and step % plan.save_every == 0 and not progress.done:
            self._write(progress.image(), plan.step_path(step), self.metadata)
        due = step % plan.checkpoint_every == 0 and not progress.done
        if plan.checkpoint is not None and (stopping or due):
            self.save_checkpoint(progress)
        return stopping

    def save_checkpoint(self, progress: Progress) -> None:
        assert self.plan.checkpoint is not None
        ck = checkpoint.Checkpoint(
            inputs=self.job.inputs,
            output=str(self.plan.output),
            settings=self.job.settings,
            every=self.plan.checkpoint_every,
            state=progress.state(),
            checksums=self.checksums,
            record=self.job.record,
            history=self.history.to_dict(),
            options=self.plan.options,
        )
        checkpoint.save(self.plan.checkpoint, ck)

    def save_partial(self) -> Path | None:
        """The image of the last completed step to the output path, marked as stopped there
        (after a stop or Ctrl-C); None when no step had completed."""
        if self.last is None:
            return None
        metadata = {**self.metadata, "stopped_at_step": self.last.step}
        self._write(self.last.image(), self.plan.output, metadata)
        self.save_plot()
        return self.plan.output

    def _write(self, image: Any, path: Path, metadata: dict[str, Any]) -> None:
        io.save_image(image, path, metadata, options=self.plan.options, exif=self.exif)

    def save_plot(self) -> Path | None:
        """The loss curves so far to ``plan.plot``; None when none is planned or no step
        has completed."""
        if self.plan.plot is None or not len(self.history):
            return None
        return curves.save(self.history, self.plan.plot, _title(self.metadata))


def _title(record: dict[str, Any]) -> str | None:
    """'photo.jpg × painting.jpg' from a record's inputs (file names only)."""
    if "content" not in record:
        return None
    names = [record["content"], *(s[0] for s in record.get("styles", []))]
    return " × ".join(Path(str(n)).name for n in names)


__all__ = ["Driver", "Outcome", "Plan"]
