"""Who may ask (web/guard.py): the token, foreign hosts and cross-origin changes."""

from __future__ import annotations

from tests.web.support import job_folders, studio, upload


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
