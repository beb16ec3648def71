"""Helpers for the web studio's tests: an in-process studio, uploads, waiting for a job,
reading its event stream, and a real uvicorn server in a thread."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from painterly.web import create_app

with warnings.catch_warnings():  # starlette asks for httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
TINY = {"size": 48, "steps": 2, "seed": 0}
LONG = {"size": 48, "steps": 5000}  # runs until cancelled


@contextlib.contextmanager
def studio(data_dir: Path, **options: Any) -> Iterator[TestClient]:
    options.setdefault("preview_interval", 0.0)
    with TestClient(create_app(data_dir, **options)) as client:
        yield client


def upload(
    pictures: dict[str, Path],
    content: str = "tubingen",
    styles: tuple[str, ...] = ("starry_night",),
    settings: Any = None,
) -> dict[str, Any]:
    """The multipart fields of POST /api/jobs."""
    files = [("content", (pictures[content].name, pictures[content].read_bytes(), "image/png"))]
    files += [("style", (pictures[s].name, pictures[s].read_bytes(), "image/png")) for s in styles]
    data = {} if settings is None else {"settings": json.dumps(settings)}
    return {"files": files, "data": data}


def start(client: TestClient, pictures: dict[str, Path], settings: Any = TINY) -> str:
    response = client.post("/api/jobs", **upload(pictures, settings=settings))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait(client: TestClient, job_id: str, *states: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


def events(client: TestClient, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Read an event stream to its end: (event name, data) pairs."""
    out = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[len("data: ") :])))
    return out


def job_folders(data_dir: Path) -> list[Path]:
    root = data_dir / "jobs"
    return sorted(root.iterdir()) if root.is_dir() else []


@contextlib.contextmanager
def live_server(data_dir: Path, **options: Any) -> Iterator[tuple[str, int]]:
    """A uvicorn server on 127.0.0.1 and a free port, in a thread; stopped on exit."""
    sock = socket.create_server(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(create_app(data_dir, **options), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield host, port
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def with_palette(bundle: Path) -> Any:
    """The bundle's ``starry_night`` remade with a painting's palette in its record (the
    conftest's has none): the painting, ``(1, 3, 20, 20)`` in [0, 0.5]."""
    import torch

    from painterly import fast, modelfile
    from painterly.transform import build

    painting = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(2)) * 0.5
    record = {"styles": [{"name": "s"}], "palette": fast.palette_record([(painting, 1.0)])}
    torch.manual_seed(0)
    modelfile.save(bundle / "starry_night.safetensors", build("rt"), record)
    return painting
