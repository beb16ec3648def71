"""painterly explain: the reconstructions of Gatys et al.'s Figure 1, the figure, the command."""

import json
import sys

import pytest
import torch
from PIL import Image

from painterly import cli, explain, figure, io, losses, runtime, weights
from painterly.explain import PANELS, PanelSpec, Reconstruction
from painterly.features import VGGFeatures
from painterly.image import resize_long_side
from painterly.optimize import INITS, descend
from painterly.settings import Settings


@pytest.fixture(scope="module")
def vgg(caffe):
    return VGGFeatures(caffe, explain.LAYERS, pooling="avg")  # as the command


@pytest.fixture(scope="module")
def photo(images):
    return resize_long_side(io.load_image(images["tubingen"]), 32)  # 32 x 24


@pytest.fixture
def same_weights(caffe, monkeypatch):
    """The command loads the session's weights instead of decoding them again."""
    monkeypatch.setattr(weights, "load", lambda spec: caffe)


def _noise(like):
    return explain.quiet(INITS["noise"](like, runtime.generator(0)))


def _reconstruct(vgg, spec, target, steps):
    objective = Reconstruction(vgg, spec)
    run = descend(objective, target, Settings(), _noise(target), steps)
    losses_seen = [p.losses["total"] for p in run]
    return objective, losses_seen


def test_panels_are_the_articles_two_rows():
    content = [p.layers for p in PANELS if p.kind == "content"]
    style = [p.layers for p in PANELS if p.kind == "style"]
    assert content == [("relu1_2",), ("relu2_2",), ("relu3_2",), ("relu4_2",), ("relu5_2",)]
    assert style[0] == ("relu1_1",) and style[-1] == explain.STYLE_LAYERS
    assert all(len(s) == n for n, s in enumerate(style, start=1))


def test_content_loss_falls_from_its_noise_start(vgg, photo):
    spec = PanelSpec("content", ("relu2_2",))
    objective, seen = _reconstruct(vgg, spec, photo, 10)
    targets = objective.content_targets(photo)
    start = float(objective.distance(_noise(photo), targets))
    assert seen[-1] < 0.5 * start
    expected = losses.content_loss(vgg(_noise(photo))["relu2_2"], vgg(photo)["relu2_2"])
    assert start == pytest.approx(float(expected), rel=1e-5)  # the distance is losses.py's


def test_style_distance_is_the_mean_of_the_layers_style_losses(vgg, photo):
    spec = PanelSpec("style", ("relu1_1", "relu2_1"))
    objective = Reconstruction(vgg, spec)
    image = _noise(photo)
    got = objective.distance(image, objective.content_targets(photo))
    a, b = vgg(image), vgg(photo)
    parts = [losses.style_loss(a[n], losses.gram(b[n])) for n in spec.layers]
    assert float(got) == pytest.approx(float(sum(parts) / 2), rel=1e-5)


def test_low_layers_keep_the_pixels_high_layers_only_the_layout(vgg, photo):
    # From the quiet noise (a mean squared pixel error of ~0.04 against the photo), matching
    # relu1_2 brings the pixels to ~0.001 in 20 steps; matching relu5_2 (a 2x1 map at this
    # size) about as closely leaves them near the start: its features no longer pin them.
    start = float((_noise(photo) - photo).pow(2).mean())
    error, distance = {}, {}
    for layer in ("relu1_2", "relu5_2"):
        objective = Reconstruction(vgg, PanelSpec("content", (layer,)))
        for progress in descend(objective, photo, Settings(), _noise(photo), 20):
            distance[layer] = progress.losses["total"]
        error[layer] = float((progress.image() - photo).pow(2).mean())
    assert max(distance.values()) < 0.1, distance  # both reconstructions match their layer
    assert error["relu1_2"] < 0.1 * start and error["relu1_2"] < 0.1 * error["relu5_2"], error


def _cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_command_writes_the_figure_and_prints_json(images, tmp_path, capsys, same_weights):
    out = tmp_path / "figure.png"
    argv = ["explain", images["tubingen"], images["starry_night"], "-o", out]
    code, stdout, err = _cli(
        [*argv, "--size", "32", "--steps", "2", "--seed", "0", "--json", "-q"], capsys
    )
    assert code == 0, err
    assert err == ""
    panels = json.loads(stdout)["panels"]
    assert [(p["kind"], tuple(p["layers"])) for p in panels] == [
        (spec.kind, spec.layers) for spec in PANELS
    ]
    assert all(isinstance(p["distance"], float) and p["distance"] >= 0 for p in panels)
    with Image.open(out) as im:
        height, width = figure.Layout(24, 32).size
        assert im.format == "PNG" and im.size == (width, height)
        assert width > 6 * figure.MIN_CELL > height  # one row of input + five panels, two rows
    meta = io.read_metadata(out)
    assert meta["settings"]["seed"] == 0 and meta["explain"]["panels"] == panels


def test_ctrl_c_writes_the_panels_done(images, tmp_path, capsys, same_weights, monkeypatch):
    real = explain.explain

    def interrupted(*args, **kwargs):  # Ctrl-C during the third panel
        for update in real(*args, **kwargs):
            if update.index == 2:
                raise KeyboardInterrupt
            yield update

    monkeypatch.setattr(explain, "explain", interrupted)
    out = tmp_path / "figure.jpg"
    argv = ["explain", images["tubingen"], images["starry_night"], "-o", out, "--size", "32"]
    code, stdout, err = _cli([*argv, "--steps", "1", "--seed", "0"], capsys)
    assert code == 130 and stdout == ""
    assert f"interrupted after 2 of 10 panels; wrote those to {out}" in err
    assert Image.open(out).format == "JPEG"


BAD = {
    "missing content": (["{tmp}/absent.jpg", "{style}", "-o", "{tmp}/f.png"], "no such file"),
    "not an image": (["{text}", "{style}", "-o", "{tmp}/f.png"], "not an image"),
    "output folder missing": (["{content}", "{style}", "-o", "{tmp}/no/f.png"], "does not exist"),
    "unknown extension": (["{content}", "{style}", "-o", "{tmp}/f.gif"], "unknown output format"),
    "output is an input": (["{content}", "{style}", "-o", "{style}"], "would overwrite"),
    "no steps": (["{content}", "{style}", "-o", "{tmp}/f.png", "--steps", "0"], "--steps 0"),
    "size too small": (["{content}", "{style}", "-o", "{tmp}/f.png", "--size", "8"], "size=8"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_nothing_written(case, images, tmp_path, capsys):
    (tmp_path / "text.jpg").write_text("not really a jpeg")
    style = tmp_path / "style.png"
    style.write_bytes(images["starry_night"].read_bytes())
    names = {"tmp": tmp_path, "text": tmp_path / "text.jpg", "style": style}
    template, expected = BAD[case]
    argv = [a.format(content=images["tubingen"], **names) for a in template]
    before = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    code, out, err = _cli(["explain", *argv, "-q"], capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and expected in err, err
    assert err.startswith("painterly: error:")
    assert {p.name: p.stat().st_size for p in tmp_path.iterdir()} == before


def test_without_matplotlib_it_says_which_extra(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    argv = ["explain", images["tubingen"], images["starry_night"], "-o", tmp_path / "f.png"]
    code, out, err = _cli(argv, capsys)
    assert code == 2 and out == ""
    assert (
        err
        == "painterly: error: painterly explain needs matplotlib: pip install 'painterly[plot]'\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_figure_leaves_missing_panels_blank():
    content, style = torch.rand(1, 3, 24, 32), torch.rand(1, 3, 20, 32)
    done = [explain.Panel(PANELS[0], content, 0.5)]
    image = figure.render(done, content, style)
    assert tuple(image.shape[-2:]) == figure.Layout(24, 32).size
    assert 0 <= float(image.min()) and float(image.max()) <= 1
