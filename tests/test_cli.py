"""The command line, called in-process through main(argv)."""

import re
import sys

import pytest
from PIL import Image

from painterly import cli, io
from painterly.inputs import Inputs
from painterly.settings import Settings

from . import corpus

TINY = ["--size", "48", "--steps", "3", "--seed", "0", "-q"]


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tiny_run_writes_png_with_settings(images, tmp_path, capsys):
    out = tmp_path / "out.png"
    code, _, err = _run([images["tubingen"], images["starry_night"], "-o", out, *TINY], capsys)
    assert code == 0, err
    with Image.open(out) as im:
        assert max(im.size) == 48
    meta = io.read_metadata(out)
    assert meta["settings"]["size"] == 48 and meta["settings"]["seed"] == 0
    assert meta["styles"] == [[str(images["starry_night"]), 1.0]]
    assert meta["precision"] in ("bf16", "fp32") and meta["device"] == "cpu"


def test_precision_flag_is_recorded(images, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [images["tubingen"], images["starry_night"], "-o", out, *TINY, "--precision", "fp32"]
    assert _run(argv, capsys)[0] == 0
    assert io.read_metadata(out)["precision"] == "fp32"


def test_blend_weights_intermediates_and_jpeg(images, tmp_path, capsys):
    out = tmp_path / "out.jpg"
    argv = [
        images["tubingen"],
        f"{images['starry_night']}:0.7",
        f"{images['the_scream']}:0.3",
        "-o",
        out,
        "--save-every",
        "2",
        *TINY,
    ]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg", "out_step00002.jpg"]


def test_sixteen_bits_dpi_exif_and_profile_in_the_result(images, tmp_path, capsys):
    exif = Image.Exif()
    exif.update({271: "Testcam", 274: 6})  # a camera, and 'turn it when shown'
    photo = tmp_path / "photo.jpg"
    Image.open(images["tubingen"]).transpose(Image.Transpose.ROTATE_90).save(photo, exif=exif)
    out = tmp_path / "out.png"
    argv = [photo, images["starry_night"], "-o", out, *TINY, "--bit-depth", "16", "--dpi", "300"]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    with Image.open(out) as im:
        assert im.width == 48 > im.height  # the photo is landscape once turned
        assert round(im.info["dpi"][0]) == 300 and "icc_profile" in im.info
        assert im.getexif()[271] == "Testcam" and 274 not in im.getexif()
    assert out.read_bytes()[24] == 16  # 16 bits a channel
    levels = (io.load_image(out) * 65535).round().long()
    assert (levels % 257 != 0).float().mean() > 0.5  # not 8-bit levels scaled up
    assert io.read_metadata(out)["settings"]["seed"] == 0


def test_summary_line_when_not_quiet(images, tmp_path, capsys):
    out = tmp_path / "o.png"
    code, _, err = _run(
        [images["tubingen"], images["starry_night"], "-o", out, "--size", "40", "--steps", "1"],
        capsys,
    )
    assert code == 0
    assert err.startswith("painterly: wrote") and "seed" in err


def test_file_flags_become_inputs_and_the_rest_settings():
    args = cli.build_parser().parse_args(
        ["c.png", "a.png:0.7", "b.png", "-o", "o.png", "--init", "start.png", "--weights"]
        + ["vgg.safetensors", "--mask", "m.png", "--style-mask", "ma.png,mb.png", "--size", "64"]
    )
    settings, inputs = cli._settings_and_inputs(args)
    assert settings == Settings(size=64)  # init and weights keep their named defaults
    assert inputs == Inputs(
        "c.png",
        (("a.png", 0.7), ("b.png", 1.0)),
        mask="m.png",
        style_masks=("ma.png", "mb.png"),
        init_image="start.png",
        weights_file="vgg.safetensors",
    )
    args = cli.build_parser().parse_args(["c.png", "a.png", "-o", "o.png", "--init", "noise"])
    settings, inputs = cli._settings_and_inputs(args)
    assert settings.init == "noise" and inputs.init_image is None


def test_help_states_each_bound_from_the_settings_metadata(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 512; >= 32)" in text and "(default: 0.0; >= 0.0; <= 0.999)" in text
    assert "(default: per optimiser; > 0)" in text  # --lr: its default is said once, in words
    assert "(default: equal; >= 0.0)" in text and "(default: None)" not in text


def _help_entries(argv, capsys, monkeypatch):
    """Each option of a command's --help: (invocation, its help text on one line)."""
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"])
    assert exc.value.code == 0
    entries = []
    for line in capsys.readouterr().out.split("\noptions:\n", 1)[1].splitlines():
        if re.match(r"^  \S", line):
            invocation, _, text = line.strip().partition("  ")
            entries.append([invocation, text.strip()])
        elif line.startswith("    ") and entries:
            entries[-1][1] = f"{entries[-1][1]} {line.strip()}".strip()
    return entries


@pytest.mark.parametrize("command", ["", *cli.COMMANDS])
def test_no_help_says_a_default_twice_or_lists_its_choices_twice(command, capsys, monkeypatch):
    if command == "serve":
        pytest.importorskip("fastapi", reason="serve needs painterly[web]")
    entries = _help_entries([command] if command else [], capsys, monkeypatch)
    assert entries, "no options found"
    for invocation, text in entries:
        assert not re.search(r"\)\s*\(", text), f"{invocation}: doubled parentheses: {text}"
        assert text.count("default") <= 1, f"{invocation}: default said twice: {text}"
        braces = re.search(r"\{([^}]*)\}", invocation)
        if braces:  # argparse shows the choices: the help need not list them all again
            words = re.sub(r"\(default: [^)]*\)", "", text)
            named = [c for c in braces[1].split(",") if re.search(rf"\b{re.escape(c)}\b", words)]
            assert len(named) < len(braces[1].split(",")), f"{invocation}: choices twice: {text}"


def test_parse_style():
    assert cli.parse_style("a.jpg:0.25") == ("a.jpg", 0.25)
    assert cli.parse_style("a.jpg") == ("a.jpg", 1.0)
    assert cli.parse_style("C:/x/a.jpg") == ("C:/x/a.jpg", 1.0)


BAD = {
    "missing content": (["{missing}", "{style}"], "no such file"),
    "missing style": (["{content}", "{missing}"], "no such file"),
    "directory": (["{dir}", "{style}"], "directory"),
    "not an image": (["{text}", "{style}"], "not an image"),
    "empty file": (["{content}", "{empty}"], "not an image"),
    "truncated": (["{truncated}", "{style}"], "cannot decode"),
    "unknown output extension": (
        ["{content}", "{style}", "-o", "{tmp}/out.gif"],
        "unknown output format",
    ),
    "output folder missing": (["{content}", "{style}", "-o", "{tmp}/no/out.png"], "does not exist"),
    "output is an input": (["{content}", "{style}", "-o", "{content}"], "overwrite the input"),
    "16 bits in a JPEG": (
        ["{content}", "{style}", "-o", "{tmp}/out.jpg", "--bit-depth", "16"],
        "--bit-depth 16: a .jpg file (JPEG) holds 8 bits a channel; use .png .tif .tiff",
    ),
    "12 bits": (["{content}", "{style}", "--bit-depth", "12"], "--bit-depth 12"),
    "dpi zero": (["{content}", "{style}", "--dpi", "0"], "--dpi 0"),
    "dpi not a number": (["{content}", "{style}", "--dpi", "high"], "--dpi"),
    "size not a number": (["{content}", "{style}", "--size", "big"], "--size"),
    "size too small": (["{content}", "{style}", "--size", "8"], "size=8"),
    "negative weight": (["{content}", "{style}", "--style-weight", "-1"], "style_weight=-1"),
    "nan weight": (["{content}", "{style}", "--tv-weight", "nan"], "tv_weight=nan"),
    "zero steps": (["{content}", "{style}", "--steps", "0"], "steps=0"),
    "unknown optimizer": (["{content}", "{style}", "--optimizer", "sgd"], "invalid choice"),
    "unknown device": (["{content}", "{style}", "--device", "tpu"], "invalid choice"),
    "unknown precision": (["{content}", "{style}", "--precision", "fp8"], "invalid choice"),
    "cuda absent": (["{content}", "{style}", "--device", "cuda"], "CUDA"),
    "unknown layer": (["{content}", "{style}", "--style-layers", "relu1_1,relu9_9"], "relu9_9"),
    "layer weights count": (["{content}", "{style}", "--style-layer-weights", "1,2"], "4 numbers"),
    "unknown weights": (["{content}", "{style}", "--weights", "imagenet"], "weights='imagenet'"),
    "weights file missing": (
        ["{content}", "{style}", "--weights", "{tmp}/none.pth"],
        "no such weights",
    ),
    "init file missing": (["{content}", "{style}", "--init", "{missing}"], "no such file"),
    "bad blend weight": (["{content}", "{style}:0"], "blend weight"),
    "negative save-every": (["{content}", "{style}", "--save-every", "-1"], "save-every"),
    "plot is the output": (
        ["{content}", "{style}", "-o", "{tmp}/out.png", "--plot", "{tmp}/out.png"],
        "--plot",
    ),
    "plot is an input": (["{content}", "{style}", "--plot", "{content}"], "would overwrite"),
    "plot not a png": (["{content}", "{style}", "--plot", "{tmp}/curves.svg"], "PNG"),
    "plot folder missing": (["{content}", "{style}", "--plot", "{tmp}/no/c.png"], "does not exist"),
    "unknown option": (["{content}", "{style}", "--colour", "red"], "unrecognized"),
    "no style": (["{content}"], "required"),
    "too thin": (["{thin}", "{style}", "--size", "64"], "too thin"),
    "too large for memory": (["{content}", "{style}", "--size", "30000"], "largest that fits"),
    "input over pixel limit": (
        ["{content}", "{style}", "--max-input-megapixels", "0.001"],
        "over the limit",
    ),
}


@pytest.fixture
def bad_files(images, tmp_path):
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "text.jpg").write_text("not really a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.effect_noise((64, 64), 50).convert("RGB").save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (400, 4)).save(tmp_path / "thin.png")
    return {
        "content": images["tubingen"],
        "style": images["starry_night"],
        "tmp": tmp_path,
        "missing": tmp_path / "absent.jpg",
        "dir": tmp_path / "dir.png",
        "text": tmp_path / "text.jpg",
        "empty": tmp_path / "empty.png",
        "truncated": tmp_path / "trunc.png",
        "thin": tmp_path / "thin.png",
    }


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_no_output(case, bad_files, capsys):
    template, expected = BAD[case]
    argv = [a.format(**bad_files) for a in template]
    if "-o" not in argv and case != "no style":
        argv += ["-o", f"{bad_files['tmp']}/out.png"]
    before = {p.name: p.stat().st_size for p in bad_files["tmp"].iterdir()}
    code, out, err = _run(["--steps", "1", "-q", *argv], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("painterly: error:") and expected in lines[0], lines[0]
    assert "Traceback" not in err
    after = {p.name: p.stat().st_size for p in bad_files["tmp"].iterdir()}
    assert after == before  # nothing written, no input changed


def test_layers_command(capsys):
    code, out, _ = _run(["layers"], capsys)
    assert code == 0
    assert "relu4_2" in out and "pool5" in out and len(out.strip().splitlines()) == 38


def test_info_command(capsys):
    code, out, _ = _run(["info"], capsys)
    assert code == 0
    assert "caffe" in out and "verified" in out and "torch" in out
    fast_runtime = next(line for line in out.splitlines() if line.startswith("fast runtime:"))
    from painterly import fast

    assert fast_runtime.split()[2] == (fast._graph_runtime() or "torch")


def test_info_bad_weights(capsys):
    code, _, err = _run(["info", "--weights", "nope"], capsys)
    assert code == 2 and "weights='nope'" in err


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "--style-weight" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert "painterly" in capsys.readouterr().out


# --- the corpus of odd and broken files through the CLI ----------------------------------


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return {**corpus.make(folder, corpus.VALID), **corpus.make(folder, corpus.BROKEN)}


@pytest.mark.parametrize("name", sorted(corpus.VALID))
def test_cli_accepts_odd_valid_files(name, corpus_files, images, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [corpus_files[name], images["starry_night"], "-o", out, "--size", "32", "--steps", "1"]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert out.exists()
    if name == "animated.gif":
        assert err.startswith("painterly: note:") and "using the first" in err


@pytest.mark.parametrize("name", sorted(corpus.BROKEN))
def test_cli_rejects_broken_files_cleanly(name, corpus_files, images, tmp_path, capsys):
    before = corpus_files[name].read_bytes()
    out = tmp_path / "out.png"
    argv = [images["tubingen"], corpus_files[name], "-o", out, "--size", "32", "--steps", "1"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and corpus_files[name].read_bytes() == before


def test_grayscale_style_image_works(corpus_files, images, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [images["tubingen"], corpus_files["gray.png"], "-o", out, "--size", "32", "--steps", "2"]
    assert _run([*argv, "-q"], capsys)[0] == 0


@pytest.mark.parametrize("weight", ["1e30", "1e300"])
def test_extreme_weights_end_cleanly(weight, images, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [images["tubingen"], images["starry_night"], "-o", out, *TINY, "--style-weight", weight]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    with Image.open(out) as im:
        assert im.getextrema() != ((0, 0), (0, 0), (0, 0))


def test_progress_bar_on_a_terminal(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    out = tmp_path / "out.png"
    argv = [images["tubingen"], images["starry_night"], "-o", out, "--size", "40", "--steps", "3"]
    code, _, err = _run(argv, capsys)
    assert code == 0
    assert "/3 [" in err and "step/s" in err and "style" in err  # tqdm: count, rate, losses


# --- --plot: the loss curves --------------------------------------------------------------


def test_plot_writes_the_loss_curves_after_the_result(images, tmp_path, capsys):
    from painterly import curves

    out, plot = tmp_path / "out.png", tmp_path / "curves.png"
    argv = [images["tubingen"], images["starry_night"], "-o", out, "--plot", plot]
    code, _, err = _run([*argv, "--size", "48", "--steps", "3", "--seed", "0"], capsys)
    assert code == 0, err
    assert f"wrote {plot} (the loss curves)" in err
    with Image.open(plot) as im:
        assert im.format == "PNG"
        assert im.size == (curves.FIGSIZE[0] * curves.DPI, curves.FIGSIZE[1] * curves.DPI)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png", "out.png"]


def test_plot_without_matplotlib_fails_at_the_door(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    argv = [images["tubingen"], images["starry_night"], "-o", tmp_path / "o.png"]
    code, out, err = _run([*argv, "--plot", tmp_path / "c.png", *TINY], capsys)
    assert code == 2 and out == ""
    assert err == "painterly: error: --plot needs matplotlib: pip install 'painterly[plot]'\n"
    assert list(tmp_path.iterdir()) == []
    code, _, err = _run(["resume", tmp_path / "x.ckpt", "--plot", tmp_path / "c.png"], capsys)
    assert code == 2 and "needs matplotlib" in err


def test_ctrl_c_writes_the_curves_so_far(images, tmp_path, capsys, monkeypatch):
    from painterly import api

    real_run = api.Job.run

    def interrupted(self, resume=None):  # Ctrl-C during step 3
        for p in real_run(self, resume):
            if p.step == 3:
                raise KeyboardInterrupt
            yield p

    monkeypatch.setattr(api.Job, "run", interrupted)
    out, plot = tmp_path / "out.png", tmp_path / "curves.png"
    argv = [images["tubingen"], images["starry_night"], "-o", out, "--plot", plot]
    code, _, err = _run([*argv, "--size", "40", "--steps", "5", "--seed", "0"], capsys)
    assert code == 130
    assert f"interrupted at step 2; wrote the image so far to {out} and the curves" in err
    assert io.read_metadata(out)["stopped_at_step"] == 2 and Image.open(plot).format == "PNG"
