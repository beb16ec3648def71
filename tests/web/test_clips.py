"""Clips in the studio (web/clips.py): a short video through a bundled trained style, as a job
with progress frame by frame, downloaded as an MP4 with its sound; the stated limits; and
one-line refusals of clips that are too large, too long, not videos or cut short, with
nothing left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

av = pytest.importorskip("av", reason="painterly[video]")
pytest.importorskip("cv2", reason="painterly[video]")

from painterly import videoio  # noqa: E402
from painterly.errors import InputError  # noqa: E402
from painterly.web import clips  # noqa: E402
from painterly.web.clips import ClipLimits  # noqa: E402
from painterly.web.jobs import CLIP, Task  # noqa: E402
from tests.videoclips import audio_only, cut_short, make_clip, packets  # noqa: E402
from tests.web.support import events, job_folders, studio, wait, with_palette  # noqa: E402

OPTIONS = {"model": "starry_night", "size": "32", "temporal": "0.6"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 frames of 64x48 at 12 frames/s, with sound."""
    return make_clip(tmp_path_factory.mktemp("clips") / "pan.mp4")


def post(client, path: Path, **fields: str):
    files = {"clip": (path.name, path.read_bytes(), "video/mp4")}
    return client.post("/api/clips", files=files, data={**OPTIONS, **fields})


def test_a_clip_runs_as_a_job_and_downloads_as_an_mp4_with_its_sound(bundle, clip, tmp_path):
    with studio(tmp_path / "data") as client:
        response = post(client, clip)
        assert response.status_code == 201, response.text
        job = response.json()
        assert job["kind"] == "clip" and job["format"] == "mp4" and job["total"] == 8
        assert job["settings"] == {
            "model": "starry_night",
            "size": 32,
            "temporal": 0.6,
            "preserve_color": "none",
        }
        assert job["clip"]["frames"] == 8 and job["clip"]["audio"] is True
        assert job["inputs"][0]["role"] == "clip" and job["inputs"][0]["name"] == "pan.mp4"
        stream = events(client, job["id"])
        assert stream[-1] == ("end", {"state": "done"})
        states = [data for name, data in stream if name == "job"]
        done = states[-1]
        assert done["state"] == "done" and done["step"] == done["total"] == 8, done["error"]
        steps = [s["step"] for s in states if s["state"] == "running"]
        assert steps == sorted(steps) and steps[-1] == 8  # frames done, never backwards
        assert done["size"] == [24, 32] and done["preview"] == 8 and done["eta"] is None

        result = client.get(done["urls"]["result"])
        assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
        disposition = result.headers["content-disposition"]
        assert "attachment" in disposition and f"painterly-{job['id'][:8]}.mp4" in disposition
        saved = tmp_path / "saved.mp4"
        saved.write_bytes(result.content)
        info = videoio.Reader(saved).info
        assert (info.width, info.height, info.frames) == (32, 24, 8)
        decoded = [image for _, image, _ in videoio.Reader(saved).frames()]
        assert len(decoded) == 8 and decoded[0].shape == (1, 3, 24, 32)
        assert packets(saved, "audio") == packets(clip, "audio")  # the sound, copied

        preview = client.get(done["urls"]["preview"])
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
        folder = tmp_path / "data" / "jobs" / job["id"]
        assert sorted(p.name for p in folder.iterdir()) == ["job.json", "preview.jpg", "result.mp4"]


def test_a_small_clip_is_not_enlarged_and_keeps_its_colours_when_asked(bundle, clip, tmp_path):
    with studio(tmp_path / "data") as client:
        response = post(client, clip, size="640", temporal="0", preserve_color="luminance")
        done = wait(client, response.json()["id"], "done", "failed")
        assert done["state"] == "done", done["error"]
        assert done["size"] == [48, 64]  # the clip's own size, below the 640 asked


def test_a_clip_in_the_paintings_palette(bundle, clip, tmp_path):
    from painterly import io
    from painterly.image import colour_moments

    with studio(tmp_path / "data") as client:  # the bundle's model records no palette
        refused = post(client, clip, preserve_color="painting")
        assert refused.status_code == 422 and "palette" in refused.json()["error"]
        assert "/" not in refused.json()["error"]  # no server path
        assert not job_folders(tmp_path / "data")
    painting = with_palette(bundle)
    with studio(tmp_path / "data2") as client:
        response = post(client, clip, preserve_color="painting")
        done = wait(client, response.json()["id"], "done", "failed")
        assert done["state"] == "done", done["error"]
        saved = tmp_path / "saved.mp4"
        saved.write_bytes(client.get(done["urls"]["result"]).content)
        preview = client.get(done["urls"]["preview"]).content
    mean = colour_moments(painting)[0]  # the palette the model records
    for _, frame, _ in videoio.Reader(saved).frames():  # the codec's rounding aside
        assert (colour_moments(frame)[0].double() - mean).abs().max() < 0.04
    (tmp_path / "preview.jpg").write_bytes(preview)  # the preview in the same colours
    shown = io.load_image(tmp_path / "preview.jpg")
    assert (colour_moments(shown)[0].double() - mean).abs().max() < 0.04


def test_the_limits_are_stated(client):
    limits = client.get("/api/info").json()["clips"]
    assert limits["available"] is True
    assert limits["max_bytes"] == 64 * 2**20
    assert (limits["max_seconds"], limits["max_frames"], limits["max_side"]) == (20, 600, 640)


def _no_frames(path: Path) -> Path:
    """An MP4 with a video stream and not one frame (FFmpeg then sees no stream at all)."""
    path = path.with_suffix(".mp4")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    return path


@pytest.mark.parametrize(
    ("make", "limits", "fields", "status", "message"),
    [
        (lambda p: (p.write_text("not a video"), p)[1], {}, {}, 415, "not a video PyAV can read"),
        (audio_only, {}, {}, 415, "has no video stream"),
        (_no_frames, {}, {}, 415, "has no video stream"),
        (cut_short, {}, {}, 415, "cut short: its data ends at"),
        (None, {"max_frames": 5}, {}, 422, "more than 5 frames"),
        (None, {"max_seconds": 0.5}, {}, 422, "0.7 s long: the studio takes clips of at most 0.5"),
        (None, {"max_bytes": 2000}, {}, 413, "upload too large"),
        (None, {}, {"model": "../starry_night"}, 404, "no bundled model"),
        (None, {}, {"size": "2000"}, 422, "size=2000: must be between 32 and 640"),
        (None, {}, {"temporal": "nan"}, 422, "temporal=nan: must be between 0 and 1"),
        (None, {}, {"preserve_color": "histogram"}, 422, "expected none or luminance"),
    ],
)
def test_bad_clips_are_refused_in_one_line_and_leave_nothing(
    bundle, clip, tmp_path, make, limits, fields, status, message
):
    source = clip if make is None else make(tmp_path / "bad.mkv")
    with studio(tmp_path / "data", clip_limits=ClipLimits(**limits)) as client:
        response = post(client, source, **fields)
        error = response.json()["error"]
        assert response.status_code == status and message in error, error
        assert "\n" not in error and "Traceback" not in error and str(tmp_path) not in error
        assert job_folders(tmp_path / "data") == []
        assert client.get("/api/jobs").json()["jobs"] == []


def test_a_clip_field_is_needed(bundle, tmp_path):
    with studio(tmp_path / "data") as client:
        response = client.post("/api/clips", data=OPTIONS)
        assert response.status_code == 422 and "'clip' file" in response.json()["error"]


def test_a_clip_whose_sound_mp4_cannot_hold_comes_back_as_mkv(bundle, clip, tmp_path, monkeypatch):
    check = videoio.check_container

    def no_mp4(output, codec, sound):
        if output.suffix == ".mp4" and sound is not None:
            raise InputError(f"{output}: a .mp4 file cannot hold this")
        check(output, codec, sound)

    monkeypatch.setattr(videoio, "check_container", no_mp4)
    with studio(tmp_path / "data") as client:
        job = wait(client, post(client, clip).json()["id"], "done", "failed")
        assert job["state"] == "done" and job["format"] == "mkv", job["error"]
        result = client.get(job["urls"]["result"])
        assert result.headers["content-type"] == "video/x-matroska"
        assert ".mkv" in result.headers["content-disposition"]
        saved = tmp_path / "saved.mkv"
        saved.write_bytes(result.content)
        assert videoio.Reader(saved).info.frames in (None, 8)
        assert sum(1 for _ in videoio.Reader(saved).frames()) == 8


def _task(clip: Path, folder: Path, **options) -> Task:
    folder.mkdir()
    settings = {"model": "starry_night", "size": 32, "temporal": 0.6, "preserve_color": "none"}
    return Task("0" * 32, clip, (), {**settings, **options}, folder, (), 64, 0.0, CLIP, 8)


def test_a_cancelled_clip_stops_and_leaves_no_result_or_work_files(bundle, clip, tmp_path):
    reports = []
    task = _task(clip, tmp_path / "job")
    state = clips.execute(
        task, lambda changes, persist=False: reports.append(changes), lambda: True
    )
    assert state == "cancelled" and [r["step"] for r in reports] == [1]
    assert sorted(p.name for p in task.folder.iterdir()) == ["preview.jpg"]


def test_a_run_that_fails_says_why_without_paths_and_leaves_no_work_files(bundle, clip, tmp_path):
    task = _task(clip, tmp_path / "job", model="gone")
    with pytest.raises(InputError, match="no bundled model 'gone'"):
        clips.execute(task, lambda changes, persist=False: None, lambda: False)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 100)
    task = _task(broken, tmp_path / "job2")
    with pytest.raises(InputError) as caught:
        clips.execute(task, lambda changes, persist=False: None, lambda: False)
    assert "not a video" in str(caught.value) and str(tmp_path) not in str(caught.value)
    assert list(task.folder.iterdir()) == []


@pytest.mark.parametrize(("rotation", "shape"), [(0, (2, 3)), (90, (3, 2)), (-90, (3, 2))])
def test_previews_are_turned_as_players_show_the_clip(rotation, shape):
    image = torch.arange(6.0).reshape(1, 1, 2, 3)
    turned = clips.upright(image, rotation)
    assert turned.shape[-2:] == shape
    if rotation == 90:  # counter-clockwise: the top row's right end comes to the top left
        assert turned[0, 0, 0, 0] == image[0, 0, 0, 2]


def test_without_the_video_extra_clips_are_501_and_not_offered(bundle, clip, tmp_path, monkeypatch):
    from painterly.web import app

    monkeypatch.setattr(app, "video_available", lambda: False)
    monkeypatch.setattr(clips, "video_available", lambda: False)
    with studio(tmp_path / "data") as client:
        assert client.get("/api/info").json()["clips"]["available"] is False
        response = post(client, clip)
        assert response.status_code == 501 and "painterly[video]" in response.json()["error"]
        assert job_folders(tmp_path / "data") == []
