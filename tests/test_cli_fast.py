"""The feed-forward engine's commands, in process: train (with previews, checkpoints and
resume), apply (files, folders, odd images, bad models) and models."""

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import cli, fast, io, modelfile
from painterly.cli_fast import build_train_parser
from painterly.console import Parser, add_setting_flags
from painterly.image import colour_moments, rgb_to_yiq
from painterly.settings import TRAIN_RECIPE, Settings, train_settings
from painterly.train import Trainer

TINY = ["--steps", "4", "--size", "32", "--batch", "2", "--photo-side", "48", "--seed", "0"]


@pytest.fixture(scope="module")
def photos(images, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name in ("tubingen", "the_scream"):
        (folder / f"{name}.png").write_bytes(images[name].read_bytes())
    (folder / "notes.txt").write_text("not a photo")
    return folder


def _train(images, photos, out, *extra):
    argv = ["train", str(images["starry_night"]), "--photos", str(photos), "-o", str(out)]
    return cli.main([*argv, *TINY, "-q", *extra])


def test_train_writes_a_model_with_its_record_and_previews(images, photos, tmp_path, capsys):
    out = tmp_path / "starry.safetensors"
    assert _train(images, photos, out, "--preview-every", "2", "--noise", "4") == 0
    assert "skipped" in capsys.readouterr().err  # notes.txt, with a note
    record = modelfile.read_record(out)
    assert record["net"]["noise"] == 4  # the network's noise channels, in its description
    assert record["styles"][0]["sha256"] == io.sha256_file(images["starry_night"])
    assert record["training"]["crop"] == 32 and record["training"]["photos"] == 2
    assert record["steps_done"] == 4 and record["command"].startswith("painterly train ")
    assert record["settings"]["seed"] == 0
    painting = io.load_image(images["starry_night"])  # its palette, for apply's painting mode
    mean, cov = (t.tolist() for t in colour_moments(painting))
    assert np.allclose(record["palette"]["mean"], np.ravel(mean))
    assert np.allclose(record["palette"]["cov"], cov)
    assert record["settings"]["steps"] == 150 and record["settings"]["size"] == 512  # untouched
    for name, value in TRAIN_RECIPE.items():  # the training's own loss, not the engine's
        assert record["settings"][name] == (list(value) if isinstance(value, tuple) else value)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["starry.safetensors", "starry_step00002.png", "starry_step00004.png"]


def _stop_during_step_3(monkeypatch):
    real = Trainer.run

    def interrupted(self):
        for progress in real(self):
            if progress.step == 3:
                raise KeyboardInterrupt
            yield progress

    monkeypatch.setattr(Trainer, "run", interrupted)


def test_an_interrupted_training_resumes_to_the_same_weights(
    images, photos, tmp_path, monkeypatch, capsys
):
    reference = tmp_path / "ref.safetensors"
    assert _train(images, photos, reference) == 0
    out = tmp_path / "m.safetensors"
    ck = tmp_path / "m.safetensors.ckpt"
    with monkeypatch.context() as mp:
        _stop_during_step_3(mp)
        assert _train(images, photos, out, "--checkpoint-every", "2", "--preview-every", "3") == 130
    assert ck.exists() and not out.exists()
    assert _train(images, photos, out) == 2  # an earlier run's checkpoint is not overwritten
    assert "--resume" in capsys.readouterr().err
    assert cli.main(["resume", str(ck)]) == 0  # or: painterly train ... --resume
    assert "at step 2" in capsys.readouterr().err  # from the checkpoint, not from the start
    assert not ck.exists()
    assert (tmp_path / "m_step00003.png").exists()  # the run's own preview interval, kept
    a, b = modelfile.load(reference), modelfile.load(out)
    for key, value in a.net.state_dict().items():
        assert torch.equal(value, b.net.state_dict()[key]), key


def test_train_refuses_bad_arguments(images, photos, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _train(images, empty, tmp_path / "m.safetensors") == 2
    assert _train(images, photos, tmp_path / "m.onnx") == 2
    assert _train(images, photos, tmp_path / "m.safetensors", "--resume") == 2
    assert _train(images, photos, tmp_path / "m.safetensors", "--arch", "xl") == 2
    assert _train(images, photos, tmp_path / "m.safetensors", "--weights", "none.pth") == 2
    colour = ("--preserve-color", "luminance")
    before = sorted(p.name for p in photos.iterdir())
    assert _train(images, photos, tmp_path / "c.safetensors", *colour) == 2
    assert not list(tmp_path.glob("c.safetensors*"))  # nothing written
    assert sorted(p.name for p in photos.iterdir()) == before  # the photos untouched
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert "no readable images" in err[0] and "ends in .safetensors" in err[1]
    assert "no checkpoint" in err[2] and "architecture='xl'" in err[3]
    assert "none.pth" in err[4] and "weights='none.pth'" not in err[4]  # a file, looked for
    assert "--preserve-color" in err[5] and "'luminance'" in err[5] and "painting" in err[5]
    assert _train(images, photos, tmp_path / "n.safetensors", "--noise", "17") == 2
    assert not list(tmp_path.glob("n.safetensors*"))
    late = capsys.readouterr().err
    assert "noise=17" in late and "Traceback" not in late
    assert "Traceback" not in "".join(err)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    from painterly.transform import build

    path = tmp_path_factory.mktemp("model") / "rt.safetensors"
    return modelfile.save(path, build("rt"), {"styles": []})


ODD = {
    "odd.png": lambda: Image.new("RGB", (33, 17), "orange"),
    "line.png": lambda: Image.new("RGB", (40, 1), "blue"),
    "gray.png": lambda: Image.new("L", (25, 30), 128),
    "alpha.png": lambda: Image.new("RGBA", (20, 21), (10, 200, 30, 100)),
}


def test_apply_takes_odd_images_into_a_folder(model, tmp_path, capsys):
    sources = []
    for name, make in ODD.items():
        make().save(tmp_path / name)
        sources.append(str(tmp_path / name))
    out = tmp_path / "out"
    assert cli.main(["apply", str(model), *sources, "-o", str(out), "-q"]) == 0
    for name, make in ODD.items():
        with Image.open(out / name) as im:
            assert im.size == make().size and im.mode == "RGB"
    assert io.read_metadata(out / "odd.png")["model"] == "rt"


def test_apply_one_file_with_size_and_luminance(model, images, tmp_path):
    out = tmp_path / "o.png"
    argv = ["apply", str(model), str(images["tubingen"]), "-o", str(out), "-q", "--size", "40"]
    assert cli.main([*argv, "--preserve-color", "luminance"]) == 0
    result = io.load_image(out)
    assert max(result.shape[-2:]) == 40
    photo = fast.fit(io.load_image(images["tubingen"]), 40)
    chroma = (rgb_to_yiq(result)[:, 1:] - rgb_to_yiq(photo)[:, 1:]).abs().mean()
    assert chroma < 0.02  # the photo's colours, the network's brightness


def test_apply_in_the_paintings_colours(model, images, tmp_path, capsys):
    from painterly.transform import build

    painting = io.load_image(images["the_scream"])
    torch.manual_seed(1)
    record = {"styles": [], "palette": fast.palette_record([(painting, 1.0)])}
    painted = modelfile.save(tmp_path / "scream.safetensors", build("rt"), record)
    out = tmp_path / "o.png"
    argv = [str(images["tubingen"]), "-o", str(out), "-q", "--size", "48"]
    assert cli.main(["apply", str(painted), *argv, "--preserve-color", "painting"]) == 0
    (m_out, c_out), (m_p, c_p) = colour_moments(io.load_image(out)), colour_moments(painting)
    assert torch.allclose(m_out, m_p, atol=0.02) and torch.allclose(c_out, c_p, atol=0.01)
    for name, make in ODD.items():  # no spread in a colour, one row, gray, alpha
        make().save(tmp_path / name)
        target = tmp_path / f"out_{name}"
        argv = ["apply", str(painted), str(tmp_path / name), "-o", str(target), "-q"]
        assert cli.main([*argv, "--preserve-color", "painting"]) == 0, name
        assert np.isfinite(io.load_image(target).numpy()).all()
    missing = tmp_path / "m.png"  # a model from before palettes were recorded
    argv = ["apply", str(model), str(images["tubingen"]), "-o", str(missing)]
    assert cli.main([*argv, "--preserve-color", "painting"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not hold" in err[0] and not missing.exists()


def test_the_bundled_models_hold_their_paintings_palettes():
    for path in modelfile.bundled():
        mean, cov = fast.model_palette(modelfile.load(path))
        assert ((mean > 0) & (mean < 1)).all(), path.stem
        assert (torch.linalg.eigvalsh(cov) > 0).all(), path.stem  # a painting's spread
    assert {p.stem for p in modelfile.bundled()} == {"starry_night", "the_scream", "shipwreck"}


def test_apply_refuses_bad_models_and_outputs(model, images, tmp_path, capsys):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\0" * 64)
    photo = str(images["tubingen"])
    assert cli.main(["apply", str(junk), photo, "-o", str(tmp_path / "a.png")]) == 2
    assert cli.main(["apply", "nosuchmodel", photo, "-o", str(tmp_path / "a.png")]) == 2
    assert cli.main(["apply", str(model), photo, photo, "-o", str(tmp_path / "d")]) == 2
    assert cli.main(["apply", str(model), photo, "-o", str(tmp_path / "a.xyz")]) == 2
    assert cli.main(["apply", str(model), photo, "-o", photo]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and all(line.startswith("painterly: error: ") for line in err)
    assert "would overwrite the input" in err[4]
    assert "not a model file" in err[0] and "no such file or bundled model" in err[1]
    assert "both be written" in err[2]
    assert not (tmp_path / "a.png").exists()


def test_apply_writes_sixteen_bit_tiff_with_dpi_and_refuses_it_in_jpeg(
    model, images, tmp_path, capsys
):
    import tifffile

    photo, out = str(images["tubingen"]), tmp_path / "o.tif"
    argv = ["apply", str(model), photo, "-o", str(out), "-q", "--bit-depth", "16"]
    assert cli.main([*argv, "--dpi", "150", "--runtime", "torch"]) == 0  # the same floats
    pixels = tifffile.imread(out)
    expected = fast.apply(modelfile.load(model), io.load_image(photo))[0].permute(1, 2, 0)
    assert pixels.dtype == np.uint16 and (pixels % 257 != 0).mean() > 0.5
    assert np.abs(pixels / 65535 - expected.numpy()).max() < 1e-4  # the floats, not 8 bits
    with Image.open(out) as im:
        assert im.info["dpi"] == (150, 150) and "icc_profile" in im.info
    assert io.read_metadata(out)["model"] == "rt"
    jpeg = tmp_path / "o.jpg"
    assert cli.main(["apply", str(model), photo, "-o", str(jpeg), "--bit-depth", "16"]) == 2
    assert "--bit-depth 16: a .jpg file" in capsys.readouterr().err and not jpeg.exists()


def test_models_lists_the_bundled_models(model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(modelfile, "bundled_dir", lambda: tmp_path / "none")
    assert cli.main(["models"]) == 0
    assert "no bundled models" in capsys.readouterr().out
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "starry.safetensors").write_bytes(model.read_bytes())
    monkeypatch.setattr(modelfile, "bundled_dir", lambda: folder)
    assert cli.main(["models"]) == 0
    assert capsys.readouterr().out.startswith("starry")


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "auto"])
def test_apply_output_matches_the_network(model, images, tmp_path, backend):
    if backend == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="painterly[onnx]")
    out = tmp_path / "o.png"
    argv = ["apply", str(model), str(images["tubingen"]), "-o", str(out), "-q"]
    assert cli.main([*argv, "--runtime", backend]) == 0
    expected = fast.apply(modelfile.load(model), io.load_image(images["tubingen"]))
    error = np.abs(
        np.asarray(Image.open(out), np.float32) / 255 - expected[0].permute(1, 2, 0).numpy()
    )
    if backend == "auto":  # OpenVINO where installed: bf16 where the CPU has it
        assert error.mean() < 1.5 / 255
    else:  # fp32: the 8-bit rounding of the same floats
        assert error.max() <= 1 / 255 + 1e-6


def test_apply_under_a_memory_cap_runs_in_tiles_with_the_same_picture(
    model, images, tmp_path, monkeypatch, capsys
):
    from painterly import transform

    monkeypatch.setattr(fast, "FAST_TILE", 32)
    calls = []
    tiled_run = transform.stylise_tiled
    monkeypatch.setattr(transform, "stylise_tiled", lambda *a: calls.append(1) or tiled_run(*a))
    whole, tiled = tmp_path / "whole.png", tmp_path / "tiled.png"
    source = str(images["tubingen"])
    fp32 = ["--runtime", "torch"]  # the whole picture in fp32, as the tiles run
    assert cli.main(["apply", str(model), source, "-o", str(whole), "-q", *fp32]) == 0
    args = ["apply", str(model), source, "-o", str(tiled), "-q", *fp32, "--max-memory", "1e-6"]
    assert cli.main(args) == 0
    assert calls == [1]
    a, b = (np.asarray(Image.open(p), np.int16) for p in (whole, tiled))
    assert np.abs(a - b).max() <= 1
    assert cli.main([*args[:-1], "0"]) == 2
    assert "--max-memory 0.0: must be positive" in capsys.readouterr().err


def test_the_memory_estimate_counts_a_head_wider_than_the_outer_maps():
    image = torch.zeros(1, 3, 1500, 2000)  # over FAST_TILE: the estimate is asked
    for head, tiled in ((0, False), (8, False), (64, True)):  # 38 floats a pixel; 134
        net = {"outer": 16, "head": head}
        model = modelfile.Model(None, {"net": net}, "m.safetensors")
        assert fast.needs_tiles(model, image, max_memory=1.0) is tiled  # 0.42 and 1.5 GiB


def test_training_starts_from_its_own_recipe_and_its_help_says_so():
    # The fast networks' loss is measured on its own (docs/fast.md): it must not move when
    # the optimisation engine's defaults do, and the user's flags still win.
    assert train_settings() == Settings().replace(**TRAIN_RECIPE)
    given = train_settings(style_weight=4.0, style_stats="meancov")
    assert given.style_weight == 4.0 and given.style_stats == "meancov"
    assert given.style_layers == TRAIN_RECIPE["style_layers"]
    parser = Parser(prog="x")
    add_setting_flags(parser, ["style_weight", "style_layers"], Settings(style_weight=3.5))
    text = " ".join(parser.format_help().split())
    assert "(default: 3.5;" in text and "(default: relu1_1,relu2_1" in text


def test_train_help_says_what_the_style_scale_is_relative_to():
    # Training sizes the painting from --photo-side, not from --size (the crop).
    (action,) = [a for a in build_train_parser()._actions if "--style-scale" in a.option_strings]
    assert "in training, to --photo-side (default: 1.0;" in action.help
