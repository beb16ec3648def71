"""The studio's jobs (web/jobs.py, web/executors.py) through the API: a job from start to end
with its event stream, a late or vanished client, several styles, cancelling, the bounded
queue, and the executor seam: a job as plain values, run in this process or another."""

from __future__ import annotations

import pickle
import time

import pytest
from PIL import Image

from painterly import io
from painterly.errors import NumericsError
from painterly.settings import Settings
from painterly.web.executors import ProcessExecutor
from painterly.web.jobs import execute
from tests.web.support import LONG, TINY, events, job_folders, start, studio, upload, wait


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


def test_the_events_carry_every_step_s_losses_for_the_curves(client, pictures):
    job_id = start(client, pictures, {"size": 48, "start_size": 32, "steps": 4, "seed": 0})
    jobs = [data for name, data in events(client, job_id) if name == "job"]
    for job in jobs:  # every event: the history up to its step, never behind or ahead
        assert job["history"]["steps"] == list(range(1, job["step"] + 1))
    last = jobs[-1]
    history = last["history"]
    assert last["state"] == "done" and history["steps"] == [1, 2, 3, 4]
    assert list(history["losses"]) == ["total", "content", "style", "tv"]
    assert all(len(values) == 4 for values in history["losses"].values())
    assert history["losses"]["total"][-1] == pytest.approx(last["losses"]["total"], rel=1e-3)
    # two scales (32 then 48 px), each with the step it began at and its [height, width]
    assert history["scales"] == [
        {"scale": 0, "step": 1, "size": [24, 32]},
        {"scale": 1, "step": 3, "size": [36, 48]},
    ]
    assert client.get(f"/api/jobs/{job_id}").json()["history"] == history  # kept with the job
    assert "history" not in client.get("/api/jobs").json()["jobs"][0]  # lists stay small


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


# --- the executor seam ------------------------------------------------------------------------


def test_a_job_reaches_its_executor_as_plain_values(tmp_path, pictures):
    """The Task crosses a pickle round trip (as it would to another process or machine)."""
    seen = []

    def through_pickle(task, report, cancelled):
        seen.append(task)
        return execute(pickle.loads(pickle.dumps(task)), report, cancelled)

    with studio(tmp_path / "data", executor=through_pickle) as client:
        job = wait(client, start(client, pictures), "done", "failed")
    assert job["state"] == "done" and job["result"], job["error"]
    (task,) = seen
    assert Settings.from_dict(task.settings) == Settings(**TINY)
    assert task.content.parent == task.folder and len(task.styles) == 1
    assert [entry["name"] for entry in task.inputs] == ["tubingen.png", "starry_night.png"]


def test_a_run_that_diverges_fails_with_its_message(tmp_path, pictures):
    def diverging(task, report, cancelled):
        raise NumericsError("the loss became nan at step 3")

    with studio(tmp_path / "data", executor=diverging) as client:
        job = wait(client, start(client, pictures), "done", "failed")
    assert job["state"] == "failed" and job["error"] == "the loss became nan at step 3"


def test_isolated_jobs_run_report_cancel_and_fail_in_a_process_of_their_own(tmp_path, pictures):
    strip = tmp_path / "strip.png"
    Image.new("RGB", (400, 12), "gray").save(strip)
    with studio(tmp_path / "data", executor=ProcessExecutor()) as client:
        done = wait(client, start(client, pictures), "done", "failed", timeout=120)
        assert done["state"] == "done" and done["step"] == 2, done["error"]
        assert client.get(done["urls"]["result"]).status_code == 200
        assert done["urls"]["preview"] is not None

        long = start(client, pictures, LONG)
        wait(client, long, "running")
        deadline = time.monotonic() + 120
        while client.get(f"/api/jobs/{long}").json()["step"] < 1:  # reports cross over
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.delete(f"/api/jobs/{long}")
        cancelled = wait(client, long, "cancelled", timeout=60)
        assert 1 <= cancelled["step"] < cancelled["total"]

        pictures = {**pictures, "strip": strip}
        response = client.post("/api/jobs", **upload(pictures, content="strip", settings=TINY))
        failed = wait(client, response.json()["id"], "done", "failed", timeout=120)
        assert failed["state"] == "failed" and "too thin" in failed["error"]
