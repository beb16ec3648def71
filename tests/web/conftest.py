"""The web studio's tests need the ``painterly[web]`` extra; without it they are skipped.
Fixtures: 48 px pictures (and a fake image), an in-process studio client, and a bundled
model."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

WEB_EXTRA = all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn", "multipart"))
collect_ignore_glob = [] if WEB_EXTRA else ["test_*.py"]
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """48 px copies of the examples, and a file that only pretends to be an image."""
    folder = tmp_path_factory.mktemp("web-images")
    out = {}
    for name in ("tubingen", "starry_night"):
        im = Image.open(EXAMPLES / f"{name}.jpg").convert("RGB")
        im.thumbnail((48, 48))
        out[name] = folder / f"{name}.png"
        im.save(out[name])
    out["fake"] = folder / "fake.png"
    out["fake"].write_text("not an image at all")
    return out


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One bundled model, ``starry_night``: a small untrained network (fast, deterministic)."""
    import torch

    from painterly import modelfile
    from painterly.transform import build

    folder = tmp_path / "bundle"
    folder.mkdir()
    torch.manual_seed(0)
    modelfile.save(folder / "starry_night.safetensors", build("rt"), {"styles": [{"name": "s"}]})
    monkeypatch.setattr(modelfile, "bundled_dir", lambda: folder)
    return folder


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    from tests.web.support import studio

    with studio(tmp_path / "data") as c:
        yield c
