"""The web studio's JSON API, in process (FastAPI's TestClient), with real tiny jobs.

Every endpoint and every refusal: bad settings, non-images, oversized uploads (also against a
real server, to see the upload stop mid-way), unknown and malformed ids, a full queue, the
token, foreign hosts and origins; jobs survive a restart and the oldest are evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web studio needs painterly[web]")
uvicorn = pytest.importorskip("uvicorn", reason="the web studio needs painterly[web]")

# Imported after the skip above, so that a core-only install skips this file cleanly.
from fastapi import HTTPException  # noqa: E402
from PIL import Image  # noqa: E402

from painterly import cli, io  # noqa: E402
from painterly.settings import InputError, Settings  # noqa: E402
from painterly.web import create_app, default_data_dir, serve_main  # noqa: E402
from painterly.web.app import _limited  # noqa: E402
from painterly.web.schema import HIDDEN_FIELDS  # noqa: E402

with warnings.catch_warnings():  # starlette asks for httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = {"size": 48, "steps": 2, "seed": 0}
LONG = {"size": 48, "steps": 5000}  # runs until cancelled


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """48 px copies of the examples, and a file that only pretends to be an image."""
    folder = tmp_path_factory.mktemp("web-images")
    out = {}
    for name in ("tubingen", "starry_night"):
        im = Image.open(EXAMPLES / f"{name}.jpg").convert("RGB")
        im.thumbnail((48, 48))
        out[name] = folder / f"{name}.png"
        im.save(out[name])
    out["fake"] = folder / "fake.png"
    out["fake"].write_text("not an image at all")
    return out


@contextlib.contextmanager
def studio(data_dir: Path, **options: Any) -> Iterator[TestClient]:
    options.setdefault("preview_interval", 0.0)
    with TestClient(create_app(data_dir, **options)) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with studio(tmp_path / "data") as c:
        yield c


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


# --- the page and the schema ------------------------------------------------------------------


def test_the_page_and_its_assets_are_served_by_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "/static/style.css" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: works offline
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404


def test_the_settings_schema_is_built_from_the_settings_dataclass(client):
    schema = client.get("/api/settings").json()
    offered = [f for f in fields(Settings) if f.name not in HIDDEN_FIELDS]
    assert schema["x-order"] == [f.name for f in offered]
    assert {"size", "steps", "style_weight", "content_weight"} <= set(schema["x-main"])
    for f in offered:
        prop = schema["properties"][f.name]
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        assert prop["default"] == default and prop["description"] == f.metadata["help"]
    assert schema["properties"]["size"]["type"] == "integer"
    assert schema["properties"]["style_weight"]["type"] == "number"
    assert schema["properties"]["optimizer"]["enum"] == ["lbfgs", "adam"]
    assert schema["properties"]["seed"]["nullable"] is True
    assert schema["properties"]["style_layers"]["type"] == "array"
    assert "mask" not in schema["properties"]  # a server path: never from a browser


def test_info(client):
    info = client.get("/api/info").json()
    assert info["max_upload_bytes"] == 20 * 2**20 and info["token_required"] is False


# --- a job from start to end ------------------------------------------------------------------


def test_a_job_runs_streams_its_progress_and_keeps_its_result(client, pictures, tmp_path):
    job_id = start(client, pictures)
    stream = events(client, job_id)
    jobs = [data for name, data in stream if name == "job"]
    assert stream[-1] == ("end", {"state": "done"})
    assert jobs[-1]["state"] == "done" and jobs[-1]["step"] == jobs[-1]["total"] == 2
    assert any(j["state"] == "running" and j["urls"]["preview"] for j in jobs)
    assert set(jobs[-1]["losses"]) >= {"total", "content", "style", "tv"}
    job = client.get(f"/api/jobs/{job_id}").json()
    assert job["settings"]["size"] == 48 and job["settings"]["seed"] == 0
    assert [i["name"] for i in job["inputs"]] == ["tubingen.png", "starry_night.png"]
    assert job["inputs"][0]["sha256"] == io.sha256_file(pictures["tubingen"])

    result = client.get(job["urls"]["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert "attachment" in result.headers["content-disposition"]
    saved = tmp_path / "result.png"
    saved.write_bytes(result.content)
    assert Image.open(saved).size == (48, 36)
    meta = io.read_metadata(saved)
    assert meta["content"] == "tubingen.png" and meta["styles"] == [["starry_night.png", 1.0]]
    assert meta["inputs"] == job["inputs"] and meta["settings"]["seed"] == 0

    preview = client.get(job["urls"]["preview"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]
    folder = tmp_path / "data" / "jobs" / job_id
    assert sorted(p.name for p in folder.iterdir()) == ["job.json", "preview.jpg", "result.png"]


def test_a_late_client_first_gets_the_current_state(client, pictures):
    job_id = start(client, pictures)
    wait(client, job_id, "done")
    stream = events(client, job_id)
    assert [name for name, _ in stream] == ["job", "end"]
    assert stream[0][1]["state"] == "done" and stream[0][1]["urls"]["result"]


def test_a_job_keeps_running_when_its_client_goes_away(client, pictures):
    job_id = start(client, pictures, {"size": 48, "steps": 6})
    with client.stream("GET", f"/api/jobs/{job_id}/events") as response:
        next(response.iter_lines())  # one line, then hang up
    assert wait(client, job_id, "done", "failed")["state"] == "done"


def test_several_styles_and_defaults(client, pictures):
    response = client.post(
        "/api/jobs", **upload(pictures, styles=("starry_night", "tubingen"), settings=TINY)
    )
    job = wait(client, response.json()["id"], "done", "failed")
    assert job["state"] == "done" and len(job["inputs"]) == 3


# --- cancelling and the queue -----------------------------------------------------------------


def test_cancel_a_running_job(client, pictures):
    job_id = start(client, pictures, LONG)
    wait(client, job_id, "running")
    response = client.delete(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    job = wait(client, job_id, "cancelled")
    assert job["step"] < job["total"] and job["urls"]["result"] is None
    assert client.get(f"/api/jobs/{job_id}/result").status_code == 404
    assert client.delete(f"/api/jobs/{job_id}").status_code == 409  # already ended


def test_a_full_queue_answers_429_and_a_queued_job_can_be_cancelled(tmp_path, pictures):
    with studio(tmp_path / "data", queue_size=1) as client:
        running = start(client, pictures, LONG)
        wait(client, running, "running")
        queued = start(client, pictures)
        assert client.get(f"/api/jobs/{queued}").json()["state"] == "queued"
        full = client.post("/api/jobs", **upload(pictures, settings=TINY))
        assert full.status_code == 429 and "queue" in full.json()["error"]
        assert len(job_folders(tmp_path / "data")) == 2  # the refused one left nothing
        assert client.delete(f"/api/jobs/{queued}").json()["state"] == "cancelled"
        assert client.get(f"/api/jobs/{queued}/result").status_code == 404
        client.delete(f"/api/jobs/{running}")
        wait(client, running, "cancelled")
        assert not list((tmp_path / "data" / "jobs" / queued).glob("style*"))  # inputs gone


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "status", "words"),
    [
        ({"size": 8}, 422, "size=8"),
        ({"style_weight": "lots"}, 422, "style_weight"),
        ({"colour": "blue"}, 422, "unknown setting 'colour'"),
        ({"mask": "/etc/passwd"}, 422, "cannot be set"),
        ({"init": "/etc/passwd"}, 422, "init="),
        ({"weights": "/tmp/x.pth"}, 422, "weights="),
        ([1, 2], 422, "JSON object"),
    ],
)
def test_bad_settings_are_a_json_error_naming_the_value(client, pictures, settings, status, words):
    response = client.post("/api/jobs", **upload(pictures, settings=settings))
    assert response.status_code == status and words in response.json()["error"]


def test_settings_that_are_not_json(client, pictures):
    fields_ = upload(pictures)
    fields_["data"] = {"settings": "{size: 48"}
    response = client.post("/api/jobs", **fields_)
    assert response.status_code == 422 and "not valid JSON" in response.json()["error"]


def test_a_non_image_is_refused_and_nothing_is_kept(client, pictures, tmp_path):
    response = client.post("/api/jobs", **upload(pictures, styles=("fake",), settings=TINY))
    assert response.status_code == 415
    error = response.json()["error"]
    assert error.startswith("style 'fake.png'") and str(tmp_path) not in error
    assert job_folders(tmp_path / "data") == []


@pytest.mark.parametrize("missing", ["content", "style"])
def test_missing_files(client, pictures, missing):
    fields_ = upload(pictures)
    fields_["files"] = [f for f in fields_["files"] if f[0] != missing]
    response = client.post("/api/jobs", **fields_)
    assert response.status_code == 422 and missing in response.json()["error"]


def test_an_upload_over_the_limit_gets_413_and_is_not_stored(tmp_path, pictures):
    with studio(tmp_path / "data", max_upload_bytes=1000) as client:
        response = client.post("/api/jobs", **upload(pictures))
        assert response.status_code == 413 and "too large" in response.json()["error"]
        assert job_folders(tmp_path / "data") == []


def test_the_upload_counter_stops_reading_past_the_limit():
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 10
    read = []

    async def receive() -> dict[str, Any]:
        read.append(1)
        return chunks[len(read) - 1]

    async def drain() -> None:
        limited = _limited(receive, 1000)
        while True:
            await limited()

    with pytest.raises(HTTPException) as caught:
        asyncio.run(drain())
    assert caught.value.status_code == 413 and len(read) == 2  # 1200 bytes seen, no more read


def test_an_oversized_streamed_upload_is_cut_off_by_a_real_server(tmp_path):
    """Chunked, no Content-Length: the server answers 413 long before the body ends."""
    with live_server(tmp_path / "data", max_upload_bytes=100_000) as (host, port):
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.sendall(
                b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
            )
            head = b'--b\r\nContent-Disposition: form-data; name="content"; filename="a"\r\n\r\n'
            sent, answer = 0, b""
            chunk = head + b"\0" * 50_000
            with contextlib.suppress(OSError):  # the server may close while we still send
                while sent < 10_000_000 and b"\r\n\r\n" not in answer:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                    chunk = b"\0" * 50_000
                    if select.select([conn], [], [], 0)[0]:
                        answer += conn.recv(4096)
            if not answer:
                answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # The answer came while the body was still being sent (it never ended); what was
        # sent beyond 100 kB sat in the kernel's socket buffers, unread by the server.
        assert sent < 10_000_000
        assert job_folders(tmp_path / "data") == []


@pytest.mark.parametrize("job_id", ["nope", "../../etc/passwd", "0" * 31 + "g", "A" * 32])
def test_malformed_ids_are_404(client, job_id):
    for suffix in ("", "/events", "/result", "/preview"):
        response = client.get(f"/api/jobs/{job_id}{suffix}")
        assert response.status_code == 404, (job_id, suffix)
        assert "error" in response.json()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 404


def test_unknown_ids_are_404(client):
    unknown = "0123456789abcdef" * 2
    for suffix in ("", "/events", "/result", "/preview"):
        assert client.get(f"/api/jobs/{unknown}{suffix}").json() == {"error": "no such job"}
    assert client.delete(f"/api/jobs/{unknown}").status_code == 404


# --- who may ask ------------------------------------------------------------------------------


def test_a_token_is_required_on_the_api_when_set(tmp_path):
    secret = "s" * 24
    with studio(tmp_path / "data", token=secret) as client:
        assert client.get("/").status_code == 200  # the page itself is not secret
        refused = client.get("/api/jobs")
        assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert client.get("/api/jobs", headers={"X-Painterly-Token": "wrong"}).status_code == 401
        assert client.get("/api/jobs", headers={"X-Painterly-Token": secret}).status_code == 200
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {secret}"}).is_success
        assert client.get(f"/api/info?token={secret}").json()["token_required"] is True


def test_foreign_hosts_and_cross_origin_changes_are_refused(tmp_path, pictures):
    with studio(tmp_path / "data", hosts=("testserver", "localhost")) as client:
        assert client.get("/api/jobs").status_code == 200
        assert client.get("/api/jobs", headers={"Host": "localhost:8765"}).status_code == 200
        assert client.get("/api/jobs", headers={"Host": "evil.example"}).status_code == 400
        cross = client.post(
            "/api/jobs", headers={"Origin": "http://evil.example"}, **upload(pictures)
        )
        assert cross.status_code == 403 and job_folders(tmp_path / "data") == []


# --- the data dir -----------------------------------------------------------------------------


def test_finished_jobs_survive_a_restart_and_unfinished_ones_are_marked(tmp_path, pictures):
    data = tmp_path / "data"
    with studio(data) as client:
        done = start(client, pictures)
        wait(client, done, "done")
        cut = start(client, pictures, LONG)
        wait(client, cut, "running")
    with studio(data) as client:
        job = client.get(f"/api/jobs/{done}").json()
        assert job["state"] == "done" and client.get(job["urls"]["result"]).status_code == 200
        cut_off = client.get(f"/api/jobs/{cut}").json()
        assert cut_off["state"] in ("failed", "cancelled")
        assert {j["id"] for j in client.get("/api/jobs").json()["jobs"]} == {done, cut}


def test_the_oldest_jobs_are_evicted_past_the_size_cap(tmp_path, pictures):
    with studio(tmp_path / "data", max_data_bytes=1) as client:
        first = start(client, pictures)
        wait(client, first, "done")
        second = start(client, pictures)
        wait(client, second, "done")
        # Eviction follows the job's last state change: give it a moment, not forever.
        deadline = time.monotonic() + 10
        while client.get(f"/api/jobs/{first}").status_code != 404:
            assert time.monotonic() < deadline, "the oldest job was never evicted"
            time.sleep(0.02)
        assert client.get(f"/api/jobs/{second}/result").status_code == 200
        assert [p.name for p in job_folders(tmp_path / "data")] == [second]


# --- painterly serve --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "70000"],
        ["--max-upload-mb", "0"],
        ["--workers", "0"],
        ["--token", "short"],
        ["--bogus"],
        ["--port", "many"],
    ],
)
def test_serve_refuses_bad_options(argv, tmp_path):
    with pytest.raises(InputError):
        serve_main([*argv, "--data-dir", str(tmp_path)])


def test_serve_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["serve", "--port", "70000", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_busy_port_is_a_clear_error(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match="cannot listen"):
            serve_main(["--port", str(port), "--data-dir", str(tmp_path)])


def test_the_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "painterly" / "studio"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "painterly" / "studio"


# --- a real server, for this file and the browser test ----------------------------------------


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
