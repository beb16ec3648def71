"""painterly video on tiny clips made with PyAV (tests/videoclips.py: a textured picture
moving by known steps, with a sine tone): both engines; frame rate, timestamps, rotation and
sound kept; odd sizes; folders of frames; less flicker with --temporal; a killed run that
resumes; and one-line errors for bad input."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av", reason="painterly[video]")
pytest.importorskip("cv2", reason="painterly[video]")

from painterly import cli, flow, io, video, videoio  # noqa: E402
from tests.videoclips import (  # noqa: E402
    audio_only,
    cut_short,
    frames_of,
    make_clip,
    packets,
    scene,
)

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--model", "starry_night", "--runtime", "torch", "-q"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "pan.mp4")


def test_fast_video_keeps_rate_timestamps_and_sound(clip, tmp_path):
    out = tmp_path / "out.mp4"
    assert cli.main(["video", str(clip), "-o", str(out), *FAST]) == 0
    src, res = videoio.Reader(clip).info, videoio.Reader(out).info
    assert (res.width, res.height, res.rate, res.time_base) == (64, 48, Fraction(12), src.time_base)
    assert res.frames == 8 and res.duration == pytest.approx(src.duration)
    source_times = sorted(p for p, _ in packets(clip, "video"))  # in display order
    assert [p for p, _ in packets(out, "video")] == source_times
    assert packets(out, "audio") == packets(clip, "audio")  # copied, byte for byte
    assert not list(tmp_path.glob(".*"))  # no work folder or temporary file left


def test_a_variable_frame_rate_keeps_every_timestamp(tmp_path):
    clip = tmp_path / "vfr.mkv"
    times = [0, 40, 120, 130, 250, 400]  # milliseconds apart, unevenly
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        video.options = {"bf": "0"}
        for n, pts in enumerate(times):
            frame = av.VideoFrame.from_ndarray(scene(64, 48, n), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    source_times = [p for p, _ in packets(clip, "video")]
    assert cli.main(["video", str(clip), "-o", str(tmp_path / "out.mkv"), *FAST]) == 0
    assert [p for p, _ in packets(tmp_path / "out.mkv", "video")] == source_times


def test_rotation_is_kept_and_odd_sizes_are_cut_with_a_note(tmp_path, capsys):
    rotated = make_clip(tmp_path / "rot.mp4", frames=3, rotation=90, audio=False)
    assert cli.main(["video", str(rotated), "-o", str(tmp_path / "r.mp4"), *FAST]) == 0
    assert videoio.Reader(tmp_path / "r.mp4").info.rotation == 90
    frames = tmp_path / "odd"
    frames.mkdir()
    for n in range(3):
        io.save_image(torch.rand(1, 3, 47, 63), frames / videoio.FRAME_NAME.format(n))
    assert cli.main(["video", str(frames), "-o", str(tmp_path / "o.mkv"), *FAST[:-1]]) == 0
    assert "63x47 are cut to 62x46" in capsys.readouterr().err
    info = videoio.Reader(tmp_path / "o.mkv").info
    assert (info.width, info.height, info.frames or 3) == (62, 46, 3)


def test_folders_of_frames_in_and_out(clip, tmp_path):
    out = tmp_path / "frames"
    assert cli.main(["video", str(clip), "-o", str(out), *FAST, "--temporal", "0"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [videoio.FRAME_NAME.format(n) for n in range(8)]
    again = tmp_path / "again.mp4"
    assert cli.main(["video", str(out), "-o", str(again), *FAST]) == 0
    assert videoio.Reader(again).info.frames == 8


def test_on_onnx_runtime_the_frames_are_painted_ahead_in_lanes_as_one_by_one(
    clip, tmp_path, monkeypatch
):
    pytest.importorskip("onnxruntime", reason="painterly[onnx]")
    from painterly import fast, onnxrt

    model = fast.load_model("starry_night", "onnxruntime")
    assert isinstance(model.net, onnxrt.OnnxNet)
    frames = list(videoio.Reader(clip).pixels(0))
    engine = video.FastFrames(model)
    painted = list(engine.ahead(iter(frames)))
    assert [item for item, _ in painted] == frames  # every frame, in order
    for (_, frame, _), out in painted:  # the levels of PyTorch's picture, to the rounding
        expected = io.to_array(fast.apply(model, io.from_array(frame))).astype(int)
        assert out is not None and out.dtype == np.uint8 and out.shape == frame.shape
        assert np.abs(out - expected).max() <= 1
    assert list(engine.ahead(iter([]))) == []
    on_torch = video.FastFrames(fast.load_model("starry_night", "torch"))
    assert [out for _, out in on_torch.ahead(iter(frames[:2]))] == [None, None]  # painted later
    # from a resized frame that would run in tiles on, the frames are painted one by one
    bigger = [
        (i, np.pad(f, ((0, 0), (0, 2), (0, 0))), p) if i >= 3 else (i, f, p) for i, f, p in frames
    ]
    monkeypatch.setattr(
        fast, "needs_tiles", lambda model, image: image.shape[-1] > frames[0][1].shape[1]
    )
    outs = [out for _, out in engine.ahead(iter(bigger))]
    assert [out is None for out in outs] == [False] * 3 + [True] * (len(frames) - 3)
    monkeypatch.undo()
    # the whole command on ONNX Runtime paints in lanes what PyTorch paints, frame after frame
    streamed = []
    real_stream = onnxrt.OnnxNet.stream_pixels

    def spy(self, images, lanes=None):
        for out in real_stream(self, images, lanes):
            streamed.append(out)
            yield out

    monkeypatch.setattr(onnxrt.OnnxNet, "stream_pixels", spy)
    ort_out, torch_out = tmp_path / "ort", tmp_path / "torch"
    argv = ["video", str(clip), "--model", "starry_night", "-q"]
    assert cli.main([*argv, "-o", str(ort_out), "--runtime", "onnxruntime"]) == 0
    assert len(streamed) == 8  # every frame went through the lanes
    assert cli.main([*argv, "-o", str(torch_out), "--runtime", "torch"]) == 0
    names = sorted(p.name for p in torch_out.iterdir())
    assert sorted(p.name for p in ort_out.iterdir()) == names and len(names) == 8
    for name in names:
        a, b = io.load_image(ort_out / name), io.load_image(torch_out / name)
        assert (a - b).abs().mean() < 1 / 255
    from painterly import openvinort

    if openvinort.available():  # and OpenVINO, the default where installed, in its lanes
        streamed.clear()
        monkeypatch.setattr(onnxrt.OnnxNet, "stream_pixels", real_stream)  # OpenVINO counted
        monkeypatch.setattr(openvinort.OpenVinoNet, "stream_pixels", spy)
        assert isinstance(fast.load_model("starry_night", "auto").net, openvinort.OpenVinoNet)
        ov_out = tmp_path / "openvino"
        assert cli.main([*argv, "-o", str(ov_out), "--runtime", "auto"]) == 0
        assert len(streamed) == 8
        for name in names:  # bf16 where the CPU has it: within a grey level or two
            a, b = io.load_image(ov_out / name), io.load_image(torch_out / name)
            assert (a - b).abs().mean() < 2 / 255


def test_a_folder_holding_another_runs_frames_is_refused_and_left_as_it_is(clip, tmp_path, capsys):
    out = tmp_path / "frames"
    out.mkdir()
    (out / "frame_00007.png").write_bytes(b"someone else's")
    assert cli.main(["video", str(clip), "-o", str(out), *FAST]) == 2
    err = capsys.readouterr().err
    assert "already holds frames (frame_00007.png, ...)" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    assert [p.name for p in out.iterdir()] == ["frame_00007.png"]


def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    lock = tmp_path / ".out.mp4.painterly-video.lock"
    with io.Exclusive(lock, "held by the test"):
        assert cli.main(["video", str(clip), "-o", str(out), *FAST]) == 2
    assert "another painterly video is writing it" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main(["video", str(clip), "-o", str(out), *FAST]) == 0
    assert not lock.exists()


def test_a_folder_of_frames_is_fingerprinted_by_its_frames(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):
        (folder / videoio.FRAME_NAME.format(n)).write_bytes(b"x" * (n + 1))
    vs = video.VideoSettings()
    key = video.fingerprint(folder, {"model": "m"}, vs)
    assert video.fingerprint(folder, {"model": "m"}, vs) == key
    assert video.fingerprint(folder, {"model": "m"}, video.VideoSettings(preset="veryfast")) != key
    # without --preset, the key a run made before --preset existed: it still resumes
    before = {k: v for k, v in dataclasses.asdict(vs).items() if k != "preset"}
    files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())]
    keys = {"source": str(folder.resolve()), "files": files, "engine": {"model": "m"}}
    text = json.dumps({**keys, "video": before}, sort_keys=True, default=str)
    assert hashlib.sha256(text.encode()).hexdigest() == key
    (folder / videoio.FRAME_NAME.format(1)).write_bytes(b"changed")  # the folder's own
    assert video.fingerprint(folder, {"model": "m"}, vs) != key  # mtime may not move


def test_a_resumed_runs_progress_starts_where_it_left_off(tmp_path):
    out = tmp_path / "out.mp4"
    assert video.Work.peek(out, "k") == 0
    work = video.Work(out, "k")
    work.commit(None, 5, np.zeros((8, 8, 3), np.uint8))
    assert video.Work.peek(out, "k") == 5
    assert video.Work.peek(out, "another") == 0


def mean_warping_error(source: Path, result: Path) -> float:
    """Lai et al.'s warping error of ``result`` with the flow and trust of ``source``."""
    return flow.clip_warping_error(frames_of(source), frames_of(result))


def test_temporal_blending_flickers_less_than_frame_by_frame(clip, tmp_path):
    runs = {}
    for temporal in ("0", "0.8"):
        out = tmp_path / f"t{temporal}.mp4"
        argv = ["video", str(clip), "-o", str(out), *FAST, "--temporal", temporal, "--crf", "0"]
        assert cli.main(argv) == 0
        runs[temporal] = mean_warping_error(clip, out)
    assert runs["0.8"] < 0.7 * runs["0"], runs


def test_optimisation_engine_video(clip, tmp_path, images, monkeypatch, capsys):
    seen = []
    real = video.OptimFrames.__init__

    def spy(self, styles, settings, steps):
        seen.append(settings)
        real(self, styles, settings, steps)

    monkeypatch.setattr(video.OptimFrames, "__init__", spy)
    out = tmp_path / "o.mp4"
    argv = [
        "video",
        str(clip),
        str(images["the_scream"]),
        "-o",
        str(out),
        "--size",
        "32",
        "--steps",
        "3",
        "--frame-steps",
        "2",
        "--seed",
        "0",
        "-q",
    ]
    assert cli.main(argv) == 0
    info = videoio.Reader(out).info
    assert (info.width, info.height, info.frames) == (32, 24, 8)
    # a clip's recipe, not the stills' defaults (docs/video.md); the flags given still count
    (used,) = seen
    assert used.style_stats == "gram" and used.style_weight == 10.0 and len(used.style_layers) == 5
    assert used.steps == 3 and used.size == 32 and used.seed == 0
    assert used.preserve_color == "none"
    # the painting's colours are the engine's own mode; luminance is put in after it
    for colour, engine_colour in (("painting", "painting"), ("luminance", "none")):
        again = tmp_path / f"{colour}.mp4"
        argv[4] = str(again)
        assert cli.main([*argv, "--preserve-color", colour]) == 0
        assert seen[-1].preserve_color == engine_colour and videoio.Reader(again).info.frames == 8
    with pytest.raises(SystemExit):
        cli.main(["video", "--help"])
    assert "(default: gram)" in capsys.readouterr().out


def test_a_killed_run_continues_from_its_last_finished_frames(tmp_path, images):
    clip = make_clip(tmp_path / "long.mp4", frames=8)
    out = tmp_path / "out.mp4"
    argv = [
        "video",
        str(clip),
        str(images["the_scream"]),
        "-o",
        str(out),
        "--size",
        "32",
        "--steps",
        "3",
        "--frame-steps",
        "25",
        "--seed",
        "0",
        "-q",
    ]
    state = tmp_path / ".out.mp4.painterly-video" / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "painterly", *argv],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline and process.poll() is None:
            if state.is_file() and json.loads(state.read_text())["frames"] >= 2:
                break
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    done = json.loads(state.read_text())["frames"]
    assert 2 <= done < 8 and not out.exists(), "killed too late to show a resume"
    assert cli.main(argv) == 0
    assert videoio.Reader(out).info.frames == 8
    assert packets(out, "audio") == packets(clip, "audio")
    assert not state.parent.exists()


def test_the_encoders_speed_preset_reaches_x264(clip, tmp_path):
    """x264 writes its settings into the stream: ultrafast's (no subpixel search) there,
    and medium's without --preset."""
    fastest, default = tmp_path / "ultrafast.mp4", tmp_path / "medium.mp4"
    assert cli.main(["video", str(clip), "-o", str(fastest), *FAST, "--preset", "ultrafast"]) == 0
    assert cli.main(["video", str(clip), "-o", str(default), *FAST]) == 0
    assert b"subme=0" in fastest.read_bytes() and b"subme=7" in default.read_bytes()
    assert videoio.Reader(fastest).info.frames == videoio.Reader(default).info.frames == 8


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda p: (p.write_text("not a video"), p)[1], [], "not a video PyAV can read"),
        (lambda p: (p.write_bytes(p.read_bytes()[:1500]), p)[1], [], "not a video PyAV can"),
        (lambda p: p.parent / "nothing.mp4", [], "no such file"),
        ("audio_only", [], "has no video stream"),
        (cut_short, [], "cut short: its data ends at"),
        ("empty_dir", [], "empty folder"),
        ("dir_without_frames", [], "needs frame_00000.png"),
        (None, ["--codec", "nonesuch"], "--codec nonesuch: not an encoder"),
        (None, ["-o", "SAME"], "would overwrite the input"),
        (None, ["-o", "out.avi"], "unknown video format"),
        (None, ["-o", "out.webm"], "a .webm file cannot hold this"),
        (None, ["-o", "nope/frames"], "does not exist"),
        (None, ["--temporal", "2"], "--temporal 2.0: must be between 0 and 1"),
        (None, ["--flow-scale", "0"], "--flow-scale 0.0: must be between 0.1 and 1"),
        (None, ["--preset", "quick"], "--preset quick: expected one of ultrafast"),
        (None, ["--preset", "fast", "--codec", "libvpx-vp9"], "only for libx264"),
        (None, ["--steps", "3"], "--steps is for the optimisation engine"),
        (None, ["--preserve-color", "histogram"], "invalid choice: 'histogram'"),
        (None, ["STYLE"], "not both or neither"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    clip, tmp_path, images, capsys, make, extra, message
):
    source = tmp_path / "in.mp4"
    source.write_bytes(clip.read_bytes())
    if make == "audio_only":
        audio_only(source)
    elif make == "empty_dir":
        source = tmp_path / "empty"
        source.mkdir()
    elif make == "dir_without_frames":
        source = tmp_path / "frames"
        source.mkdir()
        (source / "image.png").write_bytes(b"")
    elif make is not None:
        source = make(source)
    output = ["-o", str(tmp_path / "out.mp4")]
    if "-o" in extra:
        value = extra[extra.index("-o") + 1]
        output = ["-o", str(source) if value == "SAME" else str(tmp_path / value)]
        extra = []
    extra = [str(images["starry_night"]) if e == "STYLE" else e for e in extra]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert cli.main(["video", str(source), *output, *FAST, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_frame_schedule_splits_steps_only_where_there_is_a_coarser_scale():
    assert video.frame_schedule(30, 4) == (20, 10)
    assert video.frame_schedule(30, 1) == (0, 30)  # a single-scale still: all at full size
    assert video.frame_schedule(1, 3) == (0, 1)
    assert all(sum(video.frame_schedule(n, 2)) == n and video.frame_schedule(n, 2)[1] >= 1
               for n in range(1, 40))  # fmt: skip


def test_fast_video_in_the_paintings_colours_and_a_model_without_a_palette(
    clip, tmp_path, rt_model_path, capsys
):
    """Every frame in the model's palette, as painterly apply gives a picture; a model
    without one is refused in one line before anything is written."""
    from painterly import fast, modelfile
    from painterly.image import colour_moments
    from painterly.transform import build

    out = tmp_path / "frames"
    flags = ["--model", str(rt_model_path), "--runtime", "torch", "-q"]
    argv = ["video", str(clip), "-o", str(out), *flags, "--preserve-color", "painting"]
    assert cli.main(argv) == 0
    mean, cov = fast.model_palette(fast.load_model(str(rt_model_path), "torch"))
    frames = [io.load_image(path) for path in sorted(out.iterdir())]
    assert len(frames) == 8
    for frame in frames:  # PNG frames: the palette's moments, to the rounding
        m, c = colour_moments(frame)
        m, c = m.double(), c.double()
        assert torch.allclose(m, mean, atol=0.01) and torch.allclose(c, cov, atol=0.01)
    plain = tmp_path / "plain"
    assert cli.main(["video", str(clip), "-o", str(plain), *flags]) == 0
    first = io.load_image(sorted(plain.iterdir())[0])
    assert (colour_moments(first)[0].double() - mean).abs().max() > 0.05  # not so by itself
    old = modelfile.save(tmp_path / "old.safetensors", build("rt"), {"styles": []})
    capsys.readouterr()
    missing = tmp_path / "missing.mp4"
    argv = ["video", str(clip), "-o", str(missing), "--model", str(old), "-q"]
    assert cli.main([*argv, "--preserve-color", "painting"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not hold" in err[0]
    assert not missing.exists() and not list(tmp_path.glob(".missing*"))


def test_a_frame_in_the_paintings_colours_is_apply_s_recolouring_to_the_rounding(rt_model_path):
    """The frame loop recolours in NumPy and OpenCV (no torch beside the runtime's
    threads), from a sample of the pixels: what painterly apply's recolour gives, within
    two levels; a flat frame and a single pixel come out finite and the same size."""
    from painterly import fast
    from painterly.image import recolour, with_content_colour

    model = fast.load_model(str(rt_model_path), "torch")
    shown = video.FastFrames(model).colours("painting")
    mean, cov = fast.model_palette(model)
    pixels = scene(320, 180, 3)
    ours = shown(pixels, pixels).astype(int)
    theirs = io.to_array(recolour(io.from_array(pixels), mean, cov)).astype(int)
    assert np.abs(ours - theirs).max() <= 2 and np.abs(ours - theirs).mean() < 0.6
    for odd in (np.full((24, 32, 3), 90, np.uint8), scene(1, 1, 0)):
        out = shown(odd, odd)
        assert out.shape == odd.shape and out.dtype == np.uint8
    # luminance likewise: image.with_content_colour, to a level
    painted = np.ascontiguousarray(scene(320, 180, 9)[:, :, ::-1])
    ours = video.frame_colours("luminance")(painted, pixels).astype(int)
    theirs = io.to_array(with_content_colour(io.from_array(painted), io.from_array(pixels)))
    assert np.abs(ours - theirs.astype(int)).max() <= 1


def test_a_frame_fitted_to_size_is_image_resize_to_about_a_level():
    """--size in the frame loop (OpenCV: area average to shrink, bicubic to enlarge): the
    size image.resize_long_side gives, and its pixels to about a level on average."""
    from painterly.image import resize_long_side

    pixels = scene(320, 180, 5)
    for size in (160, 317, 480):
        ours = video.fit(pixels, size)
        theirs = io.to_array(resize_long_side(io.from_array(pixels), size))
        assert ours.shape == theirs.shape and ours.dtype == np.uint8
        assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 1.5, size
    assert video.fit(pixels, 320) is pixels and video.fit(pixels, None) is pixels
    assert video.fit(scene(64, 1, 0), 16).shape == (1, 16, 3)


def test_the_optimisation_engine_paints_each_frame_recoloured_as_its_stills(
    images, extractor, monkeypatch
):
    """In painting colours a later frame's content and start are the frame recoloured with
    the painting's palette (as api.prepare recolours a still's photo), and it is shown as
    painted; luminance is put in after."""
    from painterly.image import colour_moments, palette, recolour, resize
    from painterly.inputs import Inputs
    from painterly.settings import Settings

    settings = Settings().replace(
        size=32, start_size=32, steps=2, seed=0, style_stats="gram", preserve_color="painting"
    )
    engine = video.OptimFrames(((str(images["the_scream"]), 1.0),), settings, 2)
    frame = io.load_image(images["tubingen"])
    engine.job = video.api.prepare(Inputs.of(frame, engine.styles), settings, extractor=extractor)
    starts = []
    real = video.descend

    def recording(objective, target, settings, start, steps):
        starts.append((target.clone(), start.clone()))
        return real(objective, target, settings, start, steps)

    monkeypatch.setattr(video, "descend", recording)
    pixels = io.to_array(resize(frame, tuple(engine.job.content.shape[-2:])))
    untrusted = np.zeros(pixels.shape[:2], np.float32)  # nothing carried: the frame itself
    engine.next(pixels, lambda: (pixels, untrusted), 0.6)
    ((target, start),) = starts
    expected = recolour(io.from_array(pixels), *palette(engine.job.styles))
    assert torch.allclose(target, expected) and torch.allclose(start, expected)
    painting = io.load_image(images["the_scream"])
    assert torch.allclose(colour_moments(target)[0], colour_moments(painting)[0], atol=0.02)
    shown = engine.colours("painting")
    assert shown(pixels, pixels) is pixels  # recoloured before, not after
    with pytest.raises(ValueError):
        engine.colours("luminance")  # the settings paint in the painting's colours
    plain = video.OptimFrames(engine.styles, settings.replace(preserve_color="none"), 2)
    assert plain.colours("luminance") is video.frame_colours("luminance")


def test_a_later_frame_runs_coarse_then_fine_keeping_the_warped_result_where_trusted(
    images, extractor, monkeypatch
):
    """The coarse steps run at the still's next coarser scale; the full-size start is the
    warped result, bit for bit, where the flow is trusted, and the upscaled coarse result
    (not the photo) elsewhere."""
    from painterly.inputs import Inputs
    from painterly.settings import Settings

    # Gram matrices: at 32 px relu4_1 has 16 positions for 512 channels, too few for a
    # covariance to paint much in four steps; the schedule is what is tested here.
    settings = Settings().replace(size=64, start_size=32, steps=4, seed=0, style_stats="gram")
    engine = video.OptimFrames(((str(images["the_scream"]), 1.0),), settings, 6)
    frame = io.load_image(images["tubingen"])  # 64x48
    engine.job = video.api.prepare(Inputs.of(frame, engine.styles), settings, extractor=extractor)
    sizes = [tuple(stage.size) for stage in engine.job.stages]
    assert len(sizes) == 2
    calls = []
    real = video.descend

    def recording(objective, target, settings, start, steps):
        calls.append((tuple(start.shape[-2:]), steps, start.clone()))
        return real(objective, target, settings, start, steps)

    monkeypatch.setattr(video, "descend", recording)
    pixels = io.to_array(frame)  # frames travel as uint8 pixels
    warped = np.random.default_rng(0).integers(0, 256, pixels.shape, dtype=np.uint8)
    trust = np.zeros(pixels.shape[:2], np.float32)
    half = pixels.shape[1] // 2
    trust[:, :half] = 1.0  # the left half trusted
    out = engine.next(pixels, lambda: (warped, trust), 0.6)
    assert [(size, steps) for size, steps, _ in calls] == [(sizes[0], 4), (sizes[1], 2)]
    fine_start = calls[1][2]
    assert torch.equal(fine_start[..., :half], io.from_array(warped)[..., :half])
    assert (fine_start[..., half:] - frame[..., half:]).abs().mean() > 0.01  # painted, coarse
    assert out.shape == pixels.shape and out.dtype == np.uint8


def test_the_clis_defaults_are_the_engines():
    """The CLI states its defaults without importing torch; they must be video's."""
    from painterly import cli_video

    assert cli_video.DEFAULTS["temporal"] == video.DEFAULT_TEMPORAL
    assert cli_video.DEFAULTS["frame_steps"] == video.DEFAULT_FRAME_STEPS
    assert cli_video.DEFAULTS["flow_scale"] == video.DEFAULT_FLOW_SCALE
    assert cli_video.DEFAULTS["codec"] == videoio.DEFAULT_CODEC
    assert cli_video.DEFAULTS["crf"] == videoio.DEFAULT_CRF
    from painterly import console, fast

    assert console.RUNTIMES == fast.RUNTIMES  # the flags' choices, without torch loaded


def test_after_a_failed_write_nothing_later_is_done_and_the_failure_is_raised():
    """The writer encodes, saves and commits in order in its thread: a segment whose frames
    failed to be written is never committed (its commit comes after them, and is skipped)."""
    done = []

    def fail() -> None:
        raise OSError("disk full")

    with video.Writer() as writer:
        writer.submit(done.append, 1)
        writer.submit(fail)
        writer.submit(done.append, "commit")
        with pytest.raises(OSError, match="disk full"):
            writer.wait()
    assert done == [1]


def test_the_writer_waits_for_all_but_the_newest_tasks():
    gate = threading.Event()
    done = []
    with video.Writer() as writer:
        writer.submit(done.append, 1)
        writer.submit(gate.wait)
        writer.submit(done.append, 2)
        writer.wait(keep=2)  # the first is done; the blocked one and the next are not waited for
        assert done == [1]
        gate.set()
        writer.wait()
        assert done == [1, 2]


def test_frames_are_encoded_from_pixels_as_from_images(tmp_path):
    """The encoder takes uint8 pixels (a video's frames) or images in [0, 1], alike. Its
    YUV 4:2:0 has FFmpeg's luma to a level and each 2x2 block's mean chroma, near FFmpeg's
    own filter (not OpenCV's top-left sample, which aliases)."""
    av = pytest.importorskip("av")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)
    info = videoio.VideoInfo(48, 36, Fraction(24), Fraction(1, 24), 2, 2 / 24, 0, "h264", False)
    paths = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for path, frame in zip(paths, [pixels, io.from_array(pixels)], strict=True):
        encoder = videoio.Encoder(path, info, (48, 36), crf=0)
        encoder.write(frame, 0)
        encoder.close()
    decoded = [next(iter(videoio.Reader(p).pixels()))[1] for p in paths]
    assert np.array_equal(decoded[0], decoded[1])
    ys, xs = np.mgrid[0:36, 0:48]
    smooth = np.stack([xs * 5, ys * 7, 255 - xs * 3], axis=-1).astype(np.uint8)
    for picture, chroma in ((pixels, 8), (smooth, 2)):
        ffmpeg = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        diff = np.abs(ffmpeg.to_ndarray().astype(int) - videoio.yuv420(picture))
        assert diff[:36].max() <= 1  # luma
        assert diff[36:].mean() <= chroma  # each 2x2 block's mean (its top-left: 30 on noise)
    blocks = np.repeat(np.repeat(pixels[::2, ::2], 2, 0), 2, 1)  # flat 2x2 blocks: exact
    cv2 = flow.require_cv2()
    assert np.array_equal(videoio.yuv420(blocks), cv2.cvtColor(blocks, cv2.COLOR_RGB2YUV_I420))


def test_the_last_finished_frame_is_kept_as_pixels_and_an_older_runs_png_still_read(tmp_path):
    out = tmp_path / "out.mp4"
    work = video.Work(out, "k")
    assert work.last() is None
    pixels = np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    work.commit(None, 3, pixels)
    assert work.last_path.name == "last_000003.npy"
    assert np.array_equal(video.Work(out, "k").last(), pixels)
    work.commit(None, 5, pixels[::-1])
    assert [p.name for p in work.folder.glob("last_*")] == ["last_000005.npy"]
    work.last_path.unlink()  # a run of an earlier version kept a PNG
    io.save_image(io.from_array(pixels), work.last_path.with_suffix(".png"))
    assert np.array_equal(work.last(), pixels)
    work.last_path.with_suffix(".png").write_bytes(b"not a png")
    assert work.last() is None
    for torn in (b"torn", b""):  # unreadable: the run starts afresh
        work.last_path.write_bytes(torn)
        assert work.last() is None


def test_the_command_says_how_many_frames_it_painted_and_how_fast(clip, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    assert cli.main(["video", str(clip), "-o", str(out), *FAST[:-1]]) == 0
    said = capsys.readouterr().err
    assert re.search(r"wrote .*o\.mp4: 8 frames in [\d.]+ s, [\d.]+ frames/s \(the whole", said)
    assert cli.main(["video", str(clip), "-o", str(out), *FAST]) == 0  # -q: nothing said
    assert "frames/s" not in capsys.readouterr().err
