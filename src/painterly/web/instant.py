"""The studio's instant mode: a photo through a bundled trained style (the feed-forward
engine) in one request, answered with the PNG itself, in about a second.

Only bundled models are offered, by name: a browser never names a file on the server. The
models are loaded once, on first use, and kept. A photo is resized to at most
``MAX_INSTANT_SIDE`` on its long side, so a request's time and memory stay bounded.
"""

from __future__ import annotations

import io as _io
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from painterly import fast, io, modelfile
from painterly.errors import InputError
from painterly.modelfile import Model
from painterly.settings import APPLY_COLOUR_MODES
from painterly.web.jobs import plain_message

MAX_INSTANT_SIDE = 1024
DEFAULT_INSTANT_SIDE = 512
MAX_INSTANT_PIXELS = 40_000_000  # larger photos are refused before they are decoded
AT_ONCE = 2  # instant requests stylising at the same time; the others wait their turn
COLOURS = APPLY_COLOUR_MODES  # painterly apply's: none, luminance, painting (the model's palette)


class Models:
    """The bundled models, loaded on first use and shared by every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, Model] = {}
        self.turns = threading.BoundedSemaphore(AT_ONCE)

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for path in modelfile.bundled():
            record = modelfile.read_record(path)
            out.append(
                {
                    "name": path.stem,
                    "architecture": record.get("architecture"),
                    "styles": [s.get("name") for s in record.get("styles", [])],
                    "steps": record.get("steps_done"),
                }
            )
        return out

    def get(self, name: str) -> Model:
        """A bundled model by name: only the files in the package's models folder."""
        path = bundled_model(name)
        if path is None:
            raise HTTPException(404, f"no bundled model {name!r}")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = fast.load_model(path, "auto", "auto")
            return self._loaded[name]


def bundled_model(name: str) -> Path | None:
    """The bundled model file called ``name``; None for any other name (never a path)."""
    return {p.stem: p for p in modelfile.bundled()}.get(name)


def add_instant(app: FastAPI, read_form: Any) -> None:
    """``GET /api/models`` and ``POST /api/instant`` (multipart: ``content``, ``model``,
    optional ``size`` and ``preserve_color``). ``read_form(request)`` is the app's
    size-limited multipart reader."""
    models = Models()

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        return {"models": models.listing(), "max_side": MAX_INSTANT_SIDE}

    @app.post("/api/instant")
    async def instant(request: Request) -> Response:
        async with read_form(request, max_files=1, max_fields=4) as form:
            content = form.get("content")
            if not isinstance(content, UploadFile):
                raise HTTPException(422, "exactly one 'content' file is needed")
            name = str(form.get("model") or "")
            side = form_number(form, "size", 32, MAX_INSTANT_SIDE, DEFAULT_INSTANT_SIDE)
            colour = form_choice(form, "preserve_color", COLOURS)
            data = await content.read()
        model = await run_in_threadpool(models.get, name)
        png = await run_in_threadpool(_stylise, models, model, data, side, colour)
        headers = {"Cache-Control": "no-store"}
        return Response(png, media_type="image/png", headers=headers)


def form_number(
    form: Any, name: str, low: float, high: float, default: Any, kind: type = int
) -> Any:
    """The form field ``name`` as an ``int`` (or ``kind``) between ``low`` and ``high``;
    ``default`` when it is missing or empty; else 422 naming the value."""
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(str(raw))
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise HTTPException(422, f"{name}={raw!r}: expected {expected}") from None
    if not low <= value <= high:  # NaN too
        raise HTTPException(422, f"{name}={value}: must be between {low:g} and {high:g}")
    return value


def form_choice(form: Any, name: str, choices: tuple[str, ...]) -> str:
    """The form field ``name``, one of ``choices`` (the first when missing); else 422."""
    value = str(form.get(name) or choices[0])
    if value not in choices:
        raise HTTPException(422, f"{name}={value!r}: expected {' or '.join(choices)}")
    return value


def _stylise(models: Models, model: Model, data: bytes, side: int, colour: str) -> bytes:
    with models.turns, tempfile.TemporaryDirectory(prefix="painterly-instant-") as folder:
        path = Path(folder) / "content"
        path.write_bytes(data)
        try:
            image = io.load_image(path, MAX_INSTANT_PIXELS)
        except InputError as exc:
            raise HTTPException(415, f"content: {plain_message(exc)}") from None
        if max(image.shape[-2:]) > side:
            image = fast.fit(image, side)
        try:
            result = fast.apply(model, image, colour)
        except InputError as exc:  # a model without a palette, asked for the painting's
            raise HTTPException(422, plain_message(exc)) from None
    buffer = _io.BytesIO()
    io.to_pil(result).save(buffer, format="PNG")
    return buffer.getvalue()


__all__ = [
    "COLOURS",
    "MAX_INSTANT_SIDE",
    "Models",
    "add_instant",
    "bundled_model",
    "form_choice",
    "form_number",
]
