"""painterly batch without Ray: finding photos, output names, the manifest (skip, retry,
redo), one bad file among good ones, the retry rule for dead workers, a process pool that
loses a process mid-item, and a driver killed mid-batch that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly import batch, cli, io
from painterly.errors import InputError
from painterly.workers import Result, Task

FAST = ["--model", "starry_night", "--runtime", "torch", "-q"]
ROOT = Path(__file__).resolve().parent.parent


def make_photos(folder: Path, count: int, side: int = 48) -> list[Path]:
    """``count`` small, different photos (gradients with a seeded pattern) as PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        rng = np.random.default_rng(n)
        ramp = np.linspace(0, 255, side, dtype=np.float32)
        arr = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1)
        arr += rng.uniform(-40, 40, size=(1, 1, 3))
        path = folder / f"photo{n:04d}.png"
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / batch.MANIFEST).read_text().splitlines()]


# --- finding photos and naming outputs ---------------------------------------------------


def test_find_inputs_takes_files_folders_and_globs_once_each(tmp_path):
    make_photos(tmp_path / "a", 2)
    make_photos(tmp_path / "a" / "sub", 1)
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / "a" / ".hidden.png").write_bytes((tmp_path / "a" / "photo0000.png").read_bytes())
    flat = batch.find_inputs([str(tmp_path / "a")])
    assert [s.path.name for s in flat] == ["photo0000.png", "photo0001.png"]
    deep = batch.find_inputs([str(tmp_path / "a"), str(tmp_path / "a" / "*.png")], recursive=True)
    assert [(s.path.name, s.dir) for s in deep] == [
        ("photo0000.png", ""),
        ("photo0001.png", ""),
        ("photo0000.png", "sub"),
    ]
    pattern = batch.find_inputs([str(tmp_path / "a" / "**" / "*")], recursive=True)
    assert [(s.path.name, s.dir) for s in pattern] == [
        ("photo0000.png", ""),
        ("photo0001.png", ""),
        ("photo0000.png", "sub"),
    ]  # a pattern's {dir} is below its fixed part; notes.txt is no image
    named = batch.find_inputs([str(tmp_path / "a" / "notes.txt")])  # named: taken as given
    assert named[0].path.name == "notes.txt"
    with pytest.raises(InputError, match="no such file"):
        batch.find_inputs([str(tmp_path / "missing")])
    with pytest.raises(InputError, match="no photos"):
        batch.find_inputs([str(tmp_path / "a" / "*.jpg")])


def test_find_inputs_leaves_out_the_output_folder(tmp_path):
    make_photos(tmp_path, 1)
    make_photos(tmp_path / "out", 1)
    found = batch.find_inputs([str(tmp_path)], recursive=True, exclude=tmp_path / "out")
    assert [s.path.parent for s in found] == [tmp_path]


def test_plan_names_every_pair_and_refuses_collisions(tmp_path):
    sources = [batch.Source(Path("x/a.jpg")), batch.Source(Path("y/b.png"), "deep")]
    items = batch.plan(sources, ["starry", "scream"], batch.DEFAULT_NAME)
    assert [i.key for i in items] == [
        "a__starry.png",
        "a__scream.png",
        "b__starry.png",
        "b__scream.png",
    ]
    nested = batch.plan(sources, ["s"], "{dir}/{style}/{stem}.{ext}.jpg")
    assert [i.key for i in nested] == ["s/a.jpg.jpg", "deep/s/b.png.jpg"]
    same_stem = [batch.Source(Path("x/a.jpg")), batch.Source(Path("y/a.jpg"), "y")]
    with pytest.raises(InputError, match=r"both be written to a__s.png; put \{dir\}"):
        batch.plan(same_stem, ["s"], batch.DEFAULT_NAME)
    assert len(batch.plan(same_stem, ["s"], "{dir}/{stem}__{style}.png")) == 2
    for bad, message in [
        ("{stem}.txt", "unknown output format"),
        ("{name}.png", "unknown field"),
        ("{}.png", "unknown field"),
        ("{stem.png", "--name"),
        ("../{stem}.png", "not a path inside"),
    ]:
        with pytest.raises(InputError, match=message):
            batch.plan(sources, ["s"], bad)


# --- the manifest -------------------------------------------------------------------------


def test_manifest_keeps_the_last_record_of_each_item_and_skips_a_torn_line(tmp_path):
    lines = [{"key": "a", "status": "failed"}, {"key": "b", "status": "done"}]
    lines.append({"key": "a", "status": "done"})
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"key": "c", "sta'
    (tmp_path / batch.MANIFEST).write_text(text)
    manifest = batch.Manifest(tmp_path)
    assert manifest.start() == {"a": lines[2], "b": lines[1]}
    manifest.append({"key": "c", "status": "done"})
    manifest.close()
    assert [r["key"] for r in records(tmp_path)] == ["a", "b", "c"]


def test_digests_trust_size_and_time_but_read_a_changed_file(tmp_path):
    (photo,) = make_photos(tmp_path, 1)
    first = batch.Digests({}).of(photo)
    assert first["sha256"] == io.sha256_file(photo)
    known = {"k": {**first, "sha256": "recorded"}}
    assert batch.Digests(known).of(photo)["sha256"] == "recorded"  # not read again
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert batch.Digests(known).of(photo)["sha256"] == io.sha256_file(photo)
    assert batch.Digests({}).of(tmp_path / "gone.png")["sha256"] is None


# --- dispatch: the retry rule shared by the process pool and Ray ---------------------------


def test_dispatch_sends_a_lost_task_again_then_fails_it():
    deaths = {"a": 1, "b": 5}  # a's worker dies once; b's every time
    sent: list[str] = []

    def submit(task):
        sent.append(task.key)
        return (task.key, len(sent))

    def fetch(handle):
        key = handle[0]
        if deaths.get(key, 0) > 0:
            deaths[key] -= 1
            raise batch.WorkerLost("killed")
        return Result(key, None, 0.0)

    tasks = [Task(k, k, "s") for k in "abc"]
    results = list(batch.dispatch(tasks, submit, lambda hs: hs[:1], fetch, window=2))
    by_key = {r.key: r for r in results}
    assert sorted(by_key) == ["a", "b", "c"] and len(results) == 3  # none lost, none twice
    assert by_key["a"].error is None and by_key["c"].error is None
    assert "died on this item 3 times" in by_key["b"].error
    assert sent.count("b") == 1 + batch.RETRIES


# --- whole batches, fast engine, in this process -------------------------------------------


def test_batch_skips_what_is_done_retries_failures_and_redoes_changes(tmp_path, capsys):
    photos = make_photos(tmp_path / "in", 3)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    argv = ["batch", str(tmp_path / "in"), "-o", str(out), *FAST]
    assert cli.main(argv) == 1  # the broken one failed; the others are done
    err = capsys.readouterr().err
    assert err.count("failed:") == 1 and "broken.png × starry_night" in err
    first = {r["key"]: r for r in records(out)}
    assert {k: r["status"] for k, r in first.items()} == {
        "broken__starry_night.png": "failed",
        "photo0000__starry_night.png": "done",
        "photo0001__starry_night.png": "done",
        "photo0002__starry_night.png": "done",
    }
    assert first["photo0000__starry_night.png"]["sha256"] == io.sha256_file(photos[0])
    assert io.read_metadata(out / "photo0000__starry_night.png")["model"] == "starry_night"

    (tmp_path / "in" / "broken.png").write_bytes(photos[2].read_bytes())  # fixed
    make_photos(tmp_path / "other", 2)
    photos[1].write_bytes((tmp_path / "other" / "photo0000.png").read_bytes())  # changed
    assert cli.main(argv[:-1]) == 0
    err = capsys.readouterr().err
    assert "2 done, 0 failed, 2 up to date" in err
    second = {r["key"]: r for r in records(out)}
    assert len(records(out)) == 4 and all(r["status"] == "done" for r in second.values())
    assert second["photo0000__starry_night.png"] == first["photo0000__starry_night.png"]
    assert second["photo0001__starry_night.png"]["sha256"] == io.sha256_file(photos[1])

    assert cli.main([*argv, "--size", "32"]) == 0  # other settings: everything again
    assert all(r["settings"]["size"] == 32 for r in records(out))
    assert Image.open(out / "photo0002__starry_night.png").size == (32, 32)


def test_batch_results_are_those_of_apply_and_both_models_run(tmp_path):
    (photo,) = make_photos(tmp_path / "in", 1)
    out = tmp_path / "out"
    argv = ["batch", str(photo), "-o", str(out), "--model", "the_scream", *FAST]
    assert cli.main(argv) == 0
    assert (
        cli.main(
            [
                "apply",
                "the_scream",
                str(photo),
                "-o",
                str(tmp_path / "a.png"),
                "--runtime",
                "torch",
                "-q",
            ]
        )
        == 0
    )
    ours = np.asarray(Image.open(out / "photo0000__the_scream.png"))
    theirs = np.asarray(Image.open(tmp_path / "a.png"))
    assert ours.shape == (48, 48, 3) and np.array_equal(ours, theirs)
    assert sorted(p.name for p in out.iterdir()) == [
        ".painterly-batch.lock",
        "manifest.jsonl",
        "photo0000__starry_night.png",
        "photo0000__the_scream.png",
    ]


def test_batch_writes_sixteen_bits_dpi_and_the_photos_exif(tmp_path):
    import tifffile

    exif = Image.Exif()
    exif[271] = "Testcam"
    (tmp_path / "in").mkdir()
    Image.open(make_photos(tmp_path / "src", 1)[0]).save(tmp_path / "in" / "p.jpg", exif=exif)
    out = tmp_path / "out"
    argv = ["batch", str(tmp_path / "in"), "-o", str(out), *FAST, "--name", "{stem}.tif"]
    assert cli.main([*argv, "--bit-depth", "16", "--dpi", "200"]) == 0
    assert tifffile.imread(out / "p.tif").dtype == np.uint16
    with Image.open(out / "p.tif") as im:
        assert im.info["dpi"] == (200, 200) and im.getexif()[271] == "Testcam"
        assert "icc_profile" in im.info
    assert records(out)[-1]["settings"]["output"] == {"bit_depth": 16, "dpi": 200}
    assert cli.main(argv) == 0  # the defaults again: the item is redone, at 8 bits
    assert records(out)[-1]["status"] == "done" and "output" not in records(out)[-1]["settings"]
    assert tifffile.imread(out / "p.tif").dtype == np.uint8


def test_batch_optimisation_engine_with_shared_files(tmp_path, images):
    make_photos(tmp_path / "in", 2, side=40)
    out = tmp_path / "out"
    argv = [
        "batch",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--style",
        str(images["the_scream"]),
        "--size",
        "32",
        "--steps",
        "3",
        "--seed",
        "1",
        "--files",
        "shared",
        "-q",
    ]
    assert cli.main(argv) == 0
    done = records(out)
    assert [r["status"] for r in done] == ["done", "done"]
    assert done[0]["settings"]["engine"] == "optimise" and done[0]["settings"]["steps"] == 3
    meta = io.read_metadata(out / "photo0000__the_scream.png")
    assert meta["settings"]["seed"] == 1 and meta["content"].endswith("photo0000.png")
    assert Image.open(out / "photo0001__the_scream.png").size == (32, 32)


def test_batch_paints_in_the_paintings_colours_as_apply_does(tmp_path, capsys):
    from painterly import modelfile
    from painterly.transform import build

    (photo,) = make_photos(tmp_path / "in", 1)
    out, colour = tmp_path / "out", ["--preserve-color", "painting"]
    assert cli.main(["batch", str(photo), "-o", str(out), *FAST, *colour]) == 0
    single = tmp_path / "a.png"
    argv = ["apply", "starry_night", str(photo), "-o", str(single), "--runtime", "torch", "-q"]
    assert cli.main([*argv, *colour]) == 0
    ours = np.asarray(Image.open(out / "photo0000__starry_night.png"))
    assert np.array_equal(ours, np.asarray(Image.open(single)))
    old = modelfile.save(tmp_path / "old.safetensors", build("rt"), {"styles": []})  # no palette
    argv = ["batch", str(photo), "-o", str(tmp_path / "o2"), "--model", str(old), "-q", *colour]
    assert cli.main(argv) == 2
    assert "does not hold" in capsys.readouterr().err and not (tmp_path / "o2").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "starry_night", "--steps", "3"], "--steps is for the optimisation engine"),
        (["--model", "starry_night", "--preserve-color", "histogram"], "luminance, painting"),
        (["--model", "nonesuch"], "no such file or bundled model"),
        (["--style", "missing.jpg"], "no such file"),
        (["--model", "starry_night", "--style", "x.jpg"], "not allowed with"),
        (["--model", "starry_night", "--workers", "0"], "--workers must be at least 1"),
        (["--model", "starry_night", "--worker-cpus", "2"], "--worker-cpus is for --ray"),
        (["--model", "starry_night", "--files", "nfs"], "--files nfs"),
        (["--model", "starry_night", "--name", "{stem}.gif"], "unknown output format"),
        (["--model", "starry_night", "--bit-depth", "16", "--name", "{stem}.jpg"], "a .jpg file"),
        (["--model", "starry_night", "--dpi", "-3"], "--dpi -3"),
        (["--style", "STYLE", "--style", "STYLE"], "two styles are named"),
        (["--style", "STYLE", "--weights", "vgg.pth"], "a batch takes"),
        (["--style", "STYLE", "--init", "start.png"], "starts every item from its own photo"),
    ],
)
def test_batch_refuses_bad_arguments_with_one_line(tmp_path, images, capsys, extra, message):
    (photo,) = make_photos(tmp_path / "in", 1)
    extra = [str(images["starry_night"]) if e == "STYLE" else e for e in extra]
    assert cli.main(["batch", str(photo), "-o", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_batch_refuses_a_file_as_output_folder_and_a_second_driver(tmp_path, capsys):
    (photo,) = make_photos(tmp_path / "in", 1)
    (tmp_path / "file").write_text("x")
    assert cli.main(["batch", str(photo), "-o", str(tmp_path / "file"), *FAST]) == 2
    assert "not a folder" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    held = io.Exclusive(out / batch.LOCK, "held by the test")
    with held, pytest.raises(InputError, match="another batch is writing"):
        batch.run([], None, out, lambda: batch.InProcess(None))


# --- a process pool that loses a process; a driver killed mid-batch ------------------------


def _pool_children() -> list[int]:
    """Our spawned pool processes (not the resource tracker)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"spawn_main" in cmdline:
            found.append(int(pid))
    return found


def test_a_pool_process_killed_mid_batch_loses_no_item(tmp_path, images):
    make_photos(tmp_path / "in", 6, side=40)
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_one_once_working() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / batch.MANIFEST).is_file():
            time.sleep(0.02)
        while time.time() < deadline and not killed:
            if (out / batch.MANIFEST).read_text().count("\n") >= 1 and _pool_children():
                os.kill(_pool_children()[0], signal.SIGKILL)
                killed.append(1)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_once_working)
    killer.start()
    argv = [
        "batch",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--style",
        str(images["the_scream"]),
        "--size",
        "32",
        "--steps",
        "15",
        "--workers",
        "2",
        "-q",
    ]
    code = cli.main(argv)
    killer.join()
    assert killed and code == 0
    done = records(out)
    assert sorted(r["key"] for r in done) == [f"photo{n:04d}__the_scream.png" for n in range(6)]
    assert all(r["status"] == "done" for r in done)


def _wait_for_done(out: Path, count: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        manifest = out / batch.MANIFEST
        if manifest.is_file() and manifest.read_text().count('"done"') >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the batch did not get under way")


def kill_driver_and_resume(tmp_path, images, backend: list[str]) -> None:
    """Start a batch as its own process, kill -9 it after two items, run it again: every
    item ends done exactly once and the first two are not redone."""
    make_photos(tmp_path / "in", 8, side=40)
    out = tmp_path / "out"
    argv = [
        "batch",
        str(tmp_path / "in"),
        "-o",
        str(out),
        "--style",
        str(images["the_scream"]),
        "--size",
        "32",
        "--steps",
        "25",
        "-q",
        *backend,
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "painterly", *argv],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_done(out, 2, process, timeout=180)
    finally:
        process.kill()
        process.wait()
    before = {r["key"]: r for r in records(out) if r["status"] == "done"}
    assert 2 <= len(before) < 8, "killed too late to show a resume"
    assert cli.main(argv) == 0
    after = records(out)
    assert all(before[r["key"]] == r for r in after if r["key"] in before)  # not redone
    keys = [r["key"] for r in after]
    assert sorted(keys) == [f"photo{n:04d}__the_scream.png" for n in range(8)]
    assert all(r["status"] == "done" for r in after)
    assert not list(out.rglob("*.part"))
    for key in keys:
        Image.open(out / key).load()  # whole files only


def test_a_killed_driver_resumes_from_the_manifest(tmp_path, images):
    kill_driver_and_resume(tmp_path, images, [])
