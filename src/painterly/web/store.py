"""Where the studio keeps its jobs on disk: one folder per job under ``DATA_DIR/jobs``.

A job folder holds ``job.json`` (state, settings, input names and SHA-256 checksums, losses),
the uploaded inputs while the job waits or runs, ``preview.jpg`` (the latest preview) and,
once done, the result: ``result.png`` (with painterly's metadata) for a painting,
``result.mp4`` (or ``result.mkv``) for a clip. Every path is built from a validated job id
and a fixed file name, so nothing outside the data dir can be named by a request.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
RECORD = "job.json"
RESULT = "result.png"
PREVIEW = "preview.jpg"
# The results a job can make, by format: their media types.
RESULT_TYPES = {"png": "image/png", "mp4": "video/mp4", "mkv": "video/x-matroska"}
TERMINAL = frozenset({"done", "failed", "cancelled"})


def result_name(result_format: str) -> str:
    """The file name of a job's result in ``result_format`` (a key of RESULT_TYPES)."""
    if result_format not in RESULT_TYPES:
        raise KeyError(result_format)
    return f"result.{result_format}"


class Store:
    """The jobs folder: create, read and write job records, evict the oldest past a cap."""

    def __init__(self, data_dir: Path, max_bytes: int) -> None:
        self.root = Path(data_dir).expanduser().resolve() / "jobs"
        self.max_bytes = max_bytes

    def open(self) -> None:
        """Create the folder (private to the user: uploads are personal photos)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    @staticmethod
    def valid_id(job_id: str) -> bool:
        return bool(JOB_ID.match(job_id))

    def folder(self, job_id: str) -> Path:
        """The job's folder; refuses anything that is not a well-formed id."""
        if not self.valid_id(job_id):
            raise KeyError(job_id)
        return self.root / job_id

    def create(self, job_id: str) -> Path:
        folder = self.folder(job_id)
        folder.mkdir(mode=0o700)
        return folder

    def write_record(self, record: dict[str, Any]) -> None:
        """Write ``job.json`` atomically (a crash leaves the old or the new, never half)."""
        folder = self.folder(record["id"])
        fd, tmp = tempfile.mkstemp(prefix=".job.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1, sort_keys=True)
            os.replace(tmp, folder / RECORD)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def records(self) -> list[dict[str, Any]]:
        """Every readable job record, oldest first; broken folders are skipped."""
        found = []
        for folder in self.root.iterdir() if self.root.is_dir() else []:
            if not self.valid_id(folder.name):
                continue
            try:
                found.append(json.loads((folder / RECORD).read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda r: r.get("created", 0))

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def size(self, job_id: str) -> int:
        folder = self.folder(job_id)
        return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

    def evict(self, records: list[dict[str, Any]]) -> list[str]:
        """Remove the oldest finished jobs until the store fits in ``max_bytes``.

        ``records`` oldest first. Queued and running jobs are never removed, nor the newest
        finished one (a cap smaller than one result should not erase the result just made).
        Returns the removed ids.
        """
        sizes = {r["id"]: self.size(r["id"]) for r in records}
        total = sum(sizes.values())
        finished = [r["id"] for r in records if r.get("state") in TERMINAL]
        removed = []
        for job_id in finished[:-1]:
            if total <= self.max_bytes:
                break
            self.remove(job_id)
            total -= sizes[job_id]
            removed.append(job_id)
        return removed


__all__ = [
    "JOB_ID",
    "PREVIEW",
    "RECORD",
    "RESULT",
    "RESULT_TYPES",
    "TERMINAL",
    "Store",
    "result_name",
]
