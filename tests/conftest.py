"""Shared fixtures: the real caffe weights are loaded once per session; images are tiny."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from painterly import weights
from painterly.features import VGGFeatures
from painterly.settings import TRAIN_RECIPE, Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def caffe() -> weights.Weights:
    return weights.load("caffe")


@pytest.fixture(scope="session")
def extractor(caffe: weights.Weights) -> VGGFeatures:
    s = Settings()  # and relu5_1: the article's layers, which training still uses
    layers = dict.fromkeys(s.content_layers + s.style_layers + TRAIN_RECIPE["style_layers"])
    return VGGFeatures(caffe, tuple(layers))


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small copies of the bundled examples (content 64 px, styles 64 px) as files."""
    folder = tmp_path_factory.mktemp("images")
    out = {}
    for name in ("tubingen", "starry_night", "the_scream"):
        im = Image.open(EXAMPLES / f"{name}.jpg").convert("RGB")
        im.thumbnail((64, 64), Image.LANCZOS)
        out[name] = folder / f"{name}.png"
        im.save(out[name])
    return out


def rand_image(h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="session")
def rt_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real-time network with random weights, as a model file (ONNX and OpenVINO tests)."""
    from painterly import modelfile
    from painterly.transform import build

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("graph") / "rt.safetensors"
    palette = {
        "mean": [0.4, 0.3, 0.2],
        "cov": [[0.04, 0.01, 0.0], [0.01, 0.02, 0.0], [0.0, 0.0, 0.01]],
    }
    record = {"styles": [{"name": "s.png"}], "tag": "x", "palette": palette}
    net = build("rt")
    with torch.no_grad():  # the head starts at zero: random too, so the graphs must carry it
        net.head[-1][-1].weight.normal_(0.0, 0.1)
    return modelfile.save(path, net, record)


@pytest.fixture(scope="session")
def rt_onnx_path(rt_model_path: Path) -> Path:
    """:func:`rt_model_path` exported to ONNX (needs painterly[onnx])."""
    from painterly import modelfile, onnxrt

    return onnxrt.export(modelfile.load(rt_model_path), rt_model_path.with_suffix(".onnx"))
