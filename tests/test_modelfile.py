"""Model files: safetensors with a JSON record; nothing unpickled; every fault one clear line."""

import json

import pytest
import torch
from safetensors.torch import save_file

from painterly import modelfile
from painterly.errors import InputError
from painterly.transform import build


@pytest.fixture
def model_path(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    modelfile.save(path, build("rt"), {"styles": [{"name": "s.png", "sha256": "ab"}], "x": 1})
    return path


def test_a_model_round_trips_with_its_record(model_path):
    torch.manual_seed(0)
    original = build("rt")
    model = modelfile.load(model_path)
    assert model.record["x"] == 1 and model.record["styles"][0]["sha256"] == "ab"
    assert model.record["format"] == modelfile.FORMAT and model.record["net"]["inner"] == 64
    for key, value in original.state_dict().items():
        assert torch.equal(value, model.net.state_dict()[key]), key
    assert not model.net.training and not any(p.requires_grad for p in model.net.parameters())
    assert modelfile.read_record(model_path) == model.record


def test_bundled_models_are_found_by_name(model_path, tmp_path, monkeypatch):
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "starry.safetensors").write_bytes(model_path.read_bytes())
    monkeypatch.setattr(modelfile, "bundled_dir", lambda: folder)
    assert [p.stem for p in modelfile.bundled()] == ["starry"]
    assert modelfile.load("starry").name == "starry"
    with pytest.raises(InputError, match="no such file or bundled model \\(starry\\)"):
        modelfile.load("scream")


def _header(path, metadata):
    save_file({"w": torch.zeros(2)}, path, metadata=metadata)
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p, good: p, "no such model file"),
        (lambda p, good: (p.mkdir(), p)[1], "is a directory"),
        (lambda p, good: (p.write_bytes(b"junk"), p)[1], "not a model file"),
        (lambda p, good: (p.write_bytes(good.read_bytes()[:-100]), p)[1], "not a model file"),
        (lambda p, good: _header(p, None), "not a painterly model"),
        (lambda p, good: _header(p, {"painterly": "{"}), "not valid JSON"),
        (lambda p, good: _header(p, {"painterly": '{"format": 9}'}), "unknown model format 9"),
        (lambda p, good: _header(p, {"painterly": "[1]"}), "not a JSON object"),
        (lambda p, good: _header(p, {"painterly": '{"format": 1}'}), "does not describe"),
        (
            lambda p, good: _header(
                p, {"painterly": json.dumps({"format": 1, "net": {"outer": 1, "inner": 2}})}
            ),
            "unknown network",
        ),
        (
            lambda p, good: _header(
                p,
                {
                    "painterly": json.dumps(
                        {
                            "format": 1,
                            "net": {"outer": 16, "inner": 64, "blocks": 5, "separable": True},
                        }
                    )
                },
            ),
            "do not fit the network",
        ),
    ],
)
def test_bad_model_files_are_one_clear_error(make, words, model_path, tmp_path):
    with pytest.raises(InputError, match=words):
        modelfile.load(make(tmp_path / "bad.safetensors", model_path))


def test_non_finite_weights_are_refused(tmp_path):
    net = build("rt")
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    path = modelfile.save(tmp_path / "nan.safetensors", net, {})
    with pytest.raises(InputError, match="not all finite"):
        modelfile.load(path)
