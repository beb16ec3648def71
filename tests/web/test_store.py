"""The data dir (web/store.py): jobs survive a restart; the oldest are evicted past the cap."""

from __future__ import annotations

import time

from tests.web.support import LONG, job_folders, start, studio, wait


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
