"""Instant mode (web/instant.py): bundled trained styles by name, the PNG in one request."""

from __future__ import annotations

import io as _io

import numpy as np
from PIL import Image

from painterly import modelfile
from tests.web.support import studio, with_palette


def _post(client, pictures, **fields):
    photo = pictures["tubingen"]
    files = {"content": (photo.name, photo.read_bytes(), "image/png")}
    return client.post("/api/instant", files=files, data=fields)


def test_models_are_listed_and_a_photo_comes_back_stylised(bundle, pictures, tmp_path):
    with studio(tmp_path / "data") as client:
        listing = client.get("/api/models").json()
        assert [m["name"] for m in listing["models"]] == ["starry_night"]
        response = _post(client, pictures, model="starry_night", size="40")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        with Image.open(_io.BytesIO(response.content)) as im:
            assert im.size == (40, 30)  # the 48 px photo at 40 px


def test_instant_refusals(bundle, pictures, tmp_path):
    with studio(tmp_path / "data") as client:
        assert _post(client, pictures, model="../../etc/passwd").status_code == 404
        assert _post(client, pictures, model="nope").status_code == 404
        assert _post(client, pictures, model="starry_night", size="5000").status_code == 422
        assert _post(client, pictures, model="starry_night", size="big").status_code == 422
        fake = pictures["fake"]
        files = {"content": (fake.name, fake.read_bytes(), "image/png")}
        refused = client.post("/api/instant", files=files, data={"model": "starry_night"})
        assert refused.status_code == 415 and "/" not in refused.json()["error"]  # no path
        colour = _post(client, pictures, model="starry_night", preserve_color="sepia")
        assert colour.status_code == 422 and "preserve_color='sepia'" in colour.json()["error"]


def test_no_bundled_models_means_an_empty_list(tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "bundled_dir", lambda: tmp_path / "none")
    with studio(tmp_path / "data") as client:
        assert client.get("/api/models").json()["models"] == []


def test_instant_in_the_paintings_palette(bundle, pictures, tmp_path):
    import torch

    from painterly.image import colour_moments

    with studio(tmp_path / "data") as client:  # the bundle's model records no palette
        refused = _post(client, pictures, model="starry_night", preserve_color="painting")
        assert refused.status_code == 422 and "palette" in refused.json()["error"]
        assert "/" not in refused.json()["error"]  # no server path
    painting = with_palette(bundle)
    with studio(tmp_path / "data2") as client:
        response = _post(client, pictures, model="starry_night", preserve_color="painting")
        assert response.status_code == 200
        with Image.open(_io.BytesIO(response.content)) as im:
            result = torch.from_numpy(np.asarray(im.convert("RGB")) / 255.0)
        mean, _ = colour_moments(result.permute(2, 0, 1)[None])
        assert torch.allclose(mean, colour_moments(painting)[0], atol=0.02)
