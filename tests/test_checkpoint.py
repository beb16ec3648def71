"""Checkpoints, resume after SIGKILL, and Ctrl-C, through the real CLI."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from painterly import checkpoint, cli, io
from painterly.inputs import Inputs

ARGS = ["--size", "48", "--steps", "120", "--seed", "0", "-q"]


def _start(images, out, *extra):
    argv = [
        sys.executable,
        "-m",
        "painterly",
        str(images["tubingen"]),
        str(images["starry_night"]),
        "-o",
        str(out),
        *ARGS,
        *extra,
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"finished before a checkpoint: {proc.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)


def _pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_sigkill_then_resume_equals_an_uninterrupted_run(images, tmp_path, capsys):
    out, ck = tmp_path / "out.png", tmp_path / "run.ckpt"
    proc = _start(images, out, "--checkpoint", str(ck), "--checkpoint-every", "5")
    _wait_for(ck, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    saved = checkpoint.load(ck)
    assert 5 <= saved.state.step < 120 and saved.state.step % 5 == 0
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt"]  # no half-written files

    assert cli.main(["resume", str(ck), "-q"]) == 0
    assert not ck.exists()  # removed once the output is written
    reference = tmp_path / "reference.png"
    argv = [str(images["tubingen"]), str(images["starry_night"]), "-o", str(reference), *ARGS]
    assert cli.main(argv) == 0
    # Same machine, same threads: L-BFGS continues from its saved history. Allow 1/255.
    assert np.abs(_pixels(out) - _pixels(reference)).max() <= 1


def test_ctrl_c_writes_image_and_checkpoint_and_exits_130(images, tmp_path):
    out, ck = tmp_path / "out.png", tmp_path / "run.ckpt"
    proc = _start(images, out, "--checkpoint", str(ck), "--checkpoint-every", "5")
    _wait_for(ck, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted at step" in err and "painterly resume" in err
    assert "Traceback" not in err
    assert "stopping after this step" in err
    assert out.exists() and ck.exists()
    stopped = int(err.split("interrupted at step ")[1].split(";")[0])
    # A graceful stop: the checkpoint and the image are of the same, completed step.
    assert checkpoint.load(ck).state.step == stopped >= 5
    assert io.read_metadata(out)["stopped_at_step"] == stopped


def test_resume_refuses_changed_or_missing_inputs(images, tmp_path, capsys):
    content = tmp_path / "c.png"
    content.write_bytes(images["tubingen"].read_bytes())
    ck = tmp_path / "run.ckpt"
    argv = [
        str(content),
        str(images["starry_night"]),
        "-o",
        str(tmp_path / "o.png"),
        "--size",
        "40",
        "--steps",
        "4",
        "--checkpoint",
        str(ck),
        "--checkpoint-every",
        "2",
        "-q",
    ]
    _stop_at_step_3(argv)  # after its first checkpoint
    capsys.readouterr()
    Image.new("RGB", (40, 30), "red").save(content)
    assert cli.main(["resume", str(ck)]) == 2
    assert "changed since the checkpoint" in capsys.readouterr().err
    content.unlink()
    assert cli.main(["resume", str(ck)]) == 2
    assert "is gone" in capsys.readouterr().err


def test_resume_bad_files(tmp_path, capsys):
    assert cli.main(["resume", str(tmp_path / "none.ckpt")]) == 2
    (tmp_path / "junk.ckpt").write_text("junk")
    assert cli.main(["resume", str(tmp_path / "junk.ckpt")]) == 2
    err = capsys.readouterr().err
    assert "no such checkpoint" in err and "not a painterly checkpoint" in err


def test_checkpoint_path_checks(images, tmp_path, capsys):
    base = [str(images["tubingen"]), str(images["starry_night"]), "-o", str(tmp_path / "o.png")]
    assert cli.main([*base, "--checkpoint", str(tmp_path / "no" / "c.ckpt")]) == 2
    assert cli.main([*base, "--checkpoint", str(images["tubingen"])]) == 2
    assert cli.main([*base, "--checkpoint", str(tmp_path / "c"), "--checkpoint-every", "-1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "does not exist" in err[0] and "overwrite" in err[1] and "must be 0 or more" in err[2]


def _stop_at_step_3(argv):
    """Run the CLI with a Ctrl-C raised during step 3 (after the checkpoint of step 2)."""
    from painterly import api

    real_run = api.Job.run

    def interrupted(self, resume=None):
        for p in real_run(self, resume):
            if p.step == 3:
                raise KeyboardInterrupt
            yield p

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api.Job, "run", interrupted)
        assert cli.main(argv) == 130


def test_checkpoint_covers_masks_and_init_images_and_resumes(images, tmp_path, capsys):
    mask, ck, out = tmp_path / "m.png", tmp_path / "run.ckpt", tmp_path / "o.png"
    Image.new("L", (40, 30), 255).save(mask)
    content, style, init = (str(images[n]) for n in ("tubingen", "starry_night", "the_scream"))
    argv = [content, style, "-o", str(out), "--size", "40", "--steps", "4", "-q"]
    argv += ["--init", init, "--mask", str(mask), "--checkpoint", str(ck)]
    _stop_at_step_3([*argv, "--checkpoint-every", "2"])
    saved = checkpoint.load(ck)
    assert list(saved.checksums) == [content, style, init, str(mask)]
    assert saved.inputs.init_image == init and saved.inputs.mask == str(mask)
    assert saved.settings.init == "content" and saved.state.step == 2
    assert cli.main(["resume", str(ck), "-q"]) == 0
    assert io.read_metadata(out)["init_image"] == init and not ck.exists()


def test_a_checkpoint_of_format_1_resumes(images, tmp_path):
    """Format 1 kept mask, style masks and an init path among the settings."""
    import torch

    mask, ck = tmp_path / "m.png", tmp_path / "run.ckpt"
    Image.new("L", (40, 30), 255).save(mask)
    content, style, init = (str(images[n]) for n in ("tubingen", "starry_night", "the_scream"))
    argv = [content, style, "-o", str(tmp_path / "o.png"), "--size", "40", "--steps", "4", "-q"]
    argv += ["--init", init, "--mask", str(mask), "--checkpoint", str(ck)]
    _stop_at_step_3([*argv, "--checkpoint-every", "2"])
    raw = torch.load(ck, weights_only=True)
    inputs = raw.pop("inputs")
    raw.update(format=1, content=inputs["content"], styles=inputs["styles"])
    raw["settings"].update(init=init, mask=str(mask), style_mask=None)
    torch.save(raw, ck)
    old = checkpoint.load(ck)
    assert old.inputs == Inputs.from_record(inputs) and old.settings.init == "content"
    assert "mask" not in old.settings.to_dict()
    assert cli.main(["resume", str(ck), "-q"]) == 0


def test_a_checkpoint_keeps_the_loss_history_for_resume_plot(images, tmp_path, capsys):
    ck, out, plot = tmp_path / "run.ckpt", tmp_path / "o.png", tmp_path / "curves.png"
    argv = [str(images["tubingen"]), str(images["starry_night"]), "-o", str(out), "-q"]
    argv += ["--size", "40", "--steps", "4", "--checkpoint", str(ck), "--checkpoint-every", "2"]
    _stop_at_step_3(argv)
    history = checkpoint.load(ck).history
    assert history["steps"] == [1, 2] and set(history["losses"]) >= {"content", "style", "total"}
    assert cli.main(["resume", str(ck), "--plot", str(out)]) == 2  # not over the output
    assert "--plot" in capsys.readouterr().err
    assert cli.main(["resume", str(ck), "-q", "--plot", str(plot)]) == 0
    assert Image.open(plot).format == "PNG" and not ck.exists()


def test_resume_writes_the_output_as_first_asked(images, tmp_path):
    import tifffile

    ck, out = tmp_path / "run.ckpt", tmp_path / "o.tif"
    argv = [str(images["tubingen"]), str(images["starry_night"]), "-o", str(out), "-q"]
    argv += ["--size", "40", "--steps", "4", "--checkpoint", str(ck), "--checkpoint-every", "2"]
    _stop_at_step_3([*argv, "--bit-depth", "16", "--dpi", "240"])
    assert checkpoint.load(ck).options == io.OutputOptions(bit_depth=16, dpi=240)
    assert cli.main(["resume", str(ck), "-q"]) == 0
    assert tifffile.imread(out).dtype == np.uint16 and "stopped_at_step" not in io.read_metadata(
        out
    )
    with Image.open(out) as im:
        assert im.info["dpi"] == (240, 240)


def test_a_tiled_run_resumes_to_the_same_picture(images, tmp_path):
    """Print sizes are the long runs: a run in tiles checkpoints and resumes like any other."""
    out, ck, reference = tmp_path / "o.png", tmp_path / "run.ckpt", tmp_path / "r.png"
    base = [str(images["tubingen"]), str(images["starry_night"]), "--size", "96"]
    base += ["--steps", "4", "--tile", "64", "--seed", "0", "-q"]
    _stop_at_step_3([*base, "-o", str(out), "--checkpoint", str(ck), "--checkpoint-every", "2"])
    assert checkpoint.load(ck).state.step == 2
    assert cli.main(["resume", str(ck), "-q"]) == 0
    assert io.read_metadata(out)["tiles"] == [64] and not ck.exists()
    assert cli.main([*base, "-o", str(reference)]) == 0
    assert np.abs(_pixels(out) - _pixels(reference)).max() <= 1
