"""Fuzzing the image loader: mutated files must give a tensor or our clear InputError.

CI runs a small sample. The full run (10,000 files):

    FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/test_fuzz.py -q
"""

import os
from io import BytesIO

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from painterly import io
from painterly.settings import InputError

from . import corpus

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


def _encoded(fmt: str, **options) -> bytes:
    buf = BytesIO()
    im = corpus._photo((24, 16))
    (im.convert("P") if fmt == "GIF" else im).save(buf, fmt, **options)
    return buf.getvalue()


def _sixteen_bits(suffix: str) -> bytes:
    """The photo as a 16-bit file of ours: a second decode (the low bytes) when read."""
    photo = io.load_image(corpus._photo((24, 16)))
    return io.encode_image(photo, suffix, {"x": 1}, options=io.OutputOptions(bit_depth=16))


SEEDS = {
    "png": _encoded("PNG"),
    "png16": _sixteen_bits(".png"),
    "tif16": _sixteen_bits(".tif"),
    "jpg": _encoded("JPEG", quality=80),
    "gif": _encoded("GIF"),
    "bmp": _encoded("BMP"),
    "tif": _encoded("TIFF"),
    "webp": _encoded("WEBP"),
}

mutation = st.tuples(
    st.sampled_from(["flip", "insert", "delete", "truncate", "poke32"]),
    st.integers(min_value=0, max_value=1 << 16),
    st.integers(min_value=0, max_value=255),
)


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, where, value in edits:
        if not buf:
            break
        i = where % len(buf)
        if kind == "flip":
            buf[i] ^= value or 1
        elif kind == "insert":
            buf[i:i] = bytes([value]) * (1 + where % 7)
        elif kind == "delete":
            del buf[i : i + 1 + value % 16]
        elif kind == "truncate":
            del buf[i:]
        else:  # overwrite 4 bytes with a large number: sizes, offsets, counts in headers
            buf[i : i + 4] = (0xFFFFFFFF - value).to_bytes(4, "big")
    return bytes(buf)


@pytest.mark.filterwarnings("ignore::painterly.settings.InputNotice")  # damaged data notes
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(sorted(SEEDS)), st.lists(mutation, min_size=1, max_size=6))
def test_mutated_files_load_or_fail_clearly(tmp_path, fmt, edits):
    path = tmp_path / f"fuzz.{fmt}"
    path.write_bytes(mutate(SEEDS[fmt], edits))
    try:
        image = io.load_image(path, max_pixels=4_000_000)
    except InputError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message
        return
    assert image.dim() == 4 and image.shape[:2] == (1, 3)
    assert torch.isfinite(image).all() and 0 <= image.min() and image.max() <= 1


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_unmutated_seeds_load(tmp_path, fmt):
    path = tmp_path / f"seed.{fmt}"
    path.write_bytes(SEEDS[fmt])
    image = io.load_image(path)
    assert image.shape == (1, 3, 16, 24)
    reference = np.asarray(corpus._photo((24, 16)), np.float32) / 255
    if fmt in ("png", "bmp", "tif", "png16", "tif16"):
        assert np.allclose(image[0].permute(1, 2, 0).numpy(), reference, atol=1e-6)


def test_mutate_changes_bytes():
    assert mutate(b"abcdef", [("flip", 0, 1)]) == b"`bcdef"
    assert mutate(b"abcdef", [("truncate", 3, 0)]) == b"abc"
