"""ONNX export and ONNX Runtime: dynamic sizes, the same pictures as PyTorch, clear refusals."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="ONNX needs painterly[onnx]")
onnx = pytest.importorskip("onnx", reason="ONNX needs painterly[onnx]")

from painterly import cli, fast, io, modelfile, onnxrt, openvinort  # noqa: E402
from painterly.errors import InputError  # noqa: E402
from painterly.transform import build  # noqa: E402

from .conftest import rand_image  # noqa: E402


@pytest.mark.parametrize("size", [(48, 64), (37, 53), (1, 40), (90, 8)])
def test_onnx_runtime_matches_pytorch_at_any_size(rt_model_path, rt_onnx_path, size):
    image = rand_image(*size, seed=3)
    torch_out = modelfile.load(rt_model_path).net(image)
    ort_out = onnxrt.load(rt_onnx_path).net(image)
    assert ort_out.shape == torch_out.shape == (1, 3, *size)
    assert (ort_out - torch_out).abs().mean() < 1 / 255
    assert (ort_out - torch_out).abs().max() < 1e-3


def test_the_record_travels_in_the_onnx_file(rt_model_path, rt_onnx_path):
    assert onnxrt.load(rt_onnx_path).record == modelfile.load(rt_model_path).record


def test_an_onnx_file_applies_in_the_paintings_colours(rt_model_path, rt_onnx_path):
    image = rand_image(40, 56, seed=4)
    ours = fast.apply(modelfile.load(rt_model_path), image, "painting")
    theirs = fast.apply(onnxrt.load(rt_onnx_path), image, "painting")  # the palette travelled
    assert (ours - theirs).abs().mean() < 1 / 255


def test_the_runtime_is_chosen_and_onnx_files_apply(rt_model_path, rt_onnx_path, images, tmp_path):
    fastest = openvinort.OpenVinoNet if openvinort.available() else onnxrt.OnnxNet
    for path in (rt_model_path, rt_onnx_path):
        assert isinstance(fast.load_model(path, "auto", "cpu").net, fastest)
        assert isinstance(fast.load_model(path, "onnxruntime").net, onnxrt.OnnxNet)
    assert isinstance(fast.load_model(rt_model_path, "torch", "cpu").net, torch.nn.Module)
    with pytest.raises(InputError, match="onnxruntime or openvino"):
        fast.load_model(rt_onnx_path, "torch")
    out = tmp_path / "o.png"
    assert (
        cli.main(["apply", str(rt_onnx_path), str(images["tubingen"]), "-o", str(out), "-q"]) == 0
    )
    assert out.exists()


def test_export_command_and_bad_onnx_files(rt_model_path, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert cli.main(["export", str(rt_model_path), "-o", str(out)]) == 0
    assert onnx.load(out).metadata_props[0].key == "painterly"
    assert cli.main(["export", str(rt_model_path), "-o", str(tmp_path / "m.bin")]) == 2
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07junk")
    foreign = tmp_path / "foreign.onnx"
    graph = onnx.load(out)
    del graph.metadata_props[:]
    foreign.write_bytes(graph.SerializeToString())
    capsys.readouterr()
    for bad in (junk, foreign, tmp_path / "missing.onnx"):
        assert cli.main(["apply", str(bad), str(rt_model_path), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "Traceback" not in " ".join(err)
    assert "not a painterly model" in err[1] and "no such model file" in err[2]


def test_a_photo_too_large_for_memory_runs_in_tiles_with_the_same_result(
    rt_model_path, rt_onnx_path, monkeypatch
):
    from painterly import transform

    monkeypatch.setattr(fast, "FAST_TILE", 64)
    calls = []
    tiled_run = transform.stylise_tiled
    monkeypatch.setattr(transform, "stylise_tiled", lambda *a: calls.append(a[2]) or tiled_run(*a))
    image = rand_image(150, 200, seed=3)
    whole = fast.apply(fast.load_model(rt_model_path, "torch", "cpu"), image)
    assert calls == []
    for backend in ("torch", "onnxruntime"):  # ONNX Runtime's model runs as its PyTorch twin
        tiled = fast.apply(fast.load_model(rt_model_path, backend, "cpu"), image, max_memory=1e-6)
        assert float((tiled - whole).abs().max()) < 1e-4
    assert calls == [64, 64]
    with pytest.raises(InputError, match="cannot run in tiles"):
        fast.apply(fast.load_model(rt_onnx_path), image, max_memory=1e-6)


def test_a_zero_padded_network_is_framed_on_onnx_runtime_as_in_pytorch():
    """The frame (transform.BORDER) comes with the graph's record, even for a model made
    in memory without one, so both runtimes give the same picture."""
    pytest.importorskip("onnxruntime")
    from painterly import modelfile, onnxrt
    from painterly.transform import BORDER

    torch.manual_seed(0)
    net = build("rt").eval()
    ort = onnxrt.OnnxNet(onnxrt.export_bytes(modelfile.Model(net, {}, "memory")))
    assert ort.border == BORDER
    image = torch.rand(1, 3, 30, 45)
    with torch.no_grad():
        expected = net(image)
    assert (ort(image) - expected).abs().max() < 1e-4
    assert not net.training  # exporting left the network as it found it


@pytest.mark.parametrize("size", [(36, 64), (25, 25), (24, 90), (1, 7), (3, 2)])
@pytest.mark.parametrize("border", [0, 24])
def test_the_numpy_frame_is_the_torch_frame(size, border):
    """The ONNX runner frames in numpy (no torch thread pool beside ONNX Runtime's): the
    same pixels and window as transform.frame, reflection and replication alike."""
    from painterly.transform import frame

    image = rand_image(*size, seed=5)
    expected, window = frame(image, border)
    got, got_window = onnxrt.frame_array(image.numpy(), border)
    assert got_window == window
    assert got.shape == tuple(expected.shape)
    assert (torch.from_numpy(got) == expected).all()


GRAPH_RUNTIMES = [
    "onnxruntime",
    pytest.param(
        "openvino",
        marks=pytest.mark.skipif(
            not openvinort.available(), reason="OpenVINO needs painterly[openvino]"
        ),
    ),
]


@pytest.mark.parametrize("lanes", [1, 2, 3])
@pytest.mark.parametrize("backend", GRAPH_RUNTIMES)
def test_a_stream_paints_every_frame_in_order_as_one_by_one(rt_onnx_path, backend, lanes):
    """Every frame, in order, the picture one by one gives: the same on ONNX Runtime; on
    OpenVINO in bf16 the lanes, compiled for throughput, round a little differently from
    the single frame's compilation (within a fraction of a grey level), and agree with
    each other exactly, so no frame of a clip differs from its neighbours by its lane."""
    net = fast.load_model(rt_onnx_path, backend, threads=2).net
    frames = [rand_image(40 + 4 * i, 36 + (i % 3), seed=i) for i in range(7)]  # sizes differ
    streamed = list(net.stream(iter(frames), lanes=lanes))
    assert len(streamed) == len(frames)
    for frame, out in zip(frames, streamed, strict=True):
        assert out.shape == frame.shape
        if backend == "onnxruntime":
            assert torch.allclose(out, net(frame), atol=1e-5)
        else:
            assert (out - net(frame)).abs().mean() < 0.5 / 255
    same = list(net.stream([frames[0]] * 5, lanes=lanes))
    assert all(torch.equal(out, same[0]) for out in same)


@pytest.mark.parametrize("lanes", [1, 2])
@pytest.mark.parametrize("backend", GRAPH_RUNTIMES)
def test_a_stream_of_pixels_gives_the_levels_of_the_stream_of_images(rt_onnx_path, backend, lanes):
    """A video's frames go through as uint8 pixels, no torch on the way: the same levels as
    the images' stylisation rounded (io.to_array), the same lanes."""
    net = fast.load_model(rt_onnx_path, backend, threads=2).net
    frames = [io.to_array(rand_image(40 + 4 * i, 36 + (i % 3), seed=i)) for i in range(5)]
    pixels = list(net.stream_pixels(iter(frames), lanes=lanes))
    images = list(net.stream((io.from_array(f) for f in frames), lanes=lanes))
    for frame, out, image in zip(frames, pixels, images, strict=True):
        assert out.dtype == np.uint8 and out.shape == frame.shape
        assert np.array_equal(out, io.to_array(image))


@pytest.mark.parametrize("backend", GRAPH_RUNTIMES)
def test_a_stream_stops_cleanly_and_passes_on_a_failure(rt_onnx_path, backend):
    net = fast.load_model(rt_onnx_path, backend).net
    frames = (rand_image(32, 32, seed=i) for i in range(50))
    stream = net.stream(frames, lanes=2)
    assert next(stream).shape == (1, 3, 32, 32)
    stream.close()  # the consumer stops early: nothing hangs, the lanes are kept
    bad = [rand_image(32, 32), torch.rand(1, 4, 32, 32)]  # the second frame cannot run
    with pytest.raises(Exception) as lane_error:
        list(net.stream(bad, lanes=2))
    with pytest.raises(type(lane_error.value)):  # the same error as frame after frame
        net(bad[1])

    def failing_reader():
        yield rand_image(32, 32)
        raise InputError("clip.mp4: truncated")

    with pytest.raises(InputError, match="truncated"):
        list(net.stream(failing_reader(), lanes=2))
    assert len(list(net.stream([rand_image(24, 24)] * 3, lanes=2))) == 3


def test_a_noise_network_carries_its_field_into_the_graph_and_wraps_it_alike(tmp_path):
    """A network trained with --noise paints from its stored field; the exported graph holds
    the field and wraps it past its period (512 px) as PyTorch does, on both runtimes."""
    import dataclasses

    from painterly.transform import ARCHITECTURES

    torch.manual_seed(0)
    net = build(dataclasses.replace(ARCHITECTURES["rt"], noise=8)).eval()
    with torch.no_grad():
        net.noise_in.weight.mul_(20)  # the noise shows well above the tolerance below
    path = modelfile.save(tmp_path / "noisy.safetensors", net, {"styles": []})
    data = onnxrt.export_bytes(modelfile.load(path))
    runtimes = [onnxrt.OnnxNet(data)]
    if openvinort.available():
        runtimes.append(openvinort.OpenVinoNet(data, precision="f32"))
    for size in ((48, 64), (37, 53), (300, 700)):  # 700 + the frame: past the period
        image = rand_image(*size, seed=5)
        with torch.no_grad():
            expected = net(image)
            moved = net.noise_field.clone()
            net.noise_field.copy_(torch.roll(moved, 1, dims=-1))
            shifted = net(image)  # a field one cell over: so the test can fail
            net.noise_field.copy_(moved)
        assert (shifted - expected).abs().mean() > 5e-3
        for runtime in runtimes:
            assert (runtime(image) - expected).abs().max() < 1e-3
