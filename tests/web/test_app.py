"""The studio's HTTP side (web/app.py), in process: the page, info, and every refusal: bad
settings, non-images, oversized uploads (also against a real server, to see the upload stop
mid-way), unknown and malformed ids."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
from typing import Any

import pytest
from fastapi import HTTPException

from painterly.web.app import _limited
from tests.web.support import TINY, job_folders, live_server, studio, upload


def test_the_page_and_its_assets_are_served_by_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "/static/style.css" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: works offline
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404


def test_info(client):
    info = client.get("/api/info").json()
    assert info["max_upload_bytes"] == 20 * 2**20 and info["token_required"] is False


@pytest.mark.parametrize(
    ("settings", "status", "words"),
    [
        ({"size": 8}, 422, "size=8"),
        ({"style_weight": "lots"}, 422, "style_weight"),
        ({"colour": "blue"}, 422, "unknown setting 'colour'"),
        # Files on the server: masks are inputs, not settings; init and weights take names.
        ({"mask": "/etc/passwd"}, 422, "unknown setting 'mask'"),
        ({"init": "/etc/passwd"}, 422, "init='/etc/passwd': expected one of content, noise"),
        ({"weights": "/tmp/x.pth"}, 422, "weights='/tmp/x.pth': expected one of caffe"),
        ({"max_input_megapixels": 1e4}, 422, "cannot be set"),  # the server's policy
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
