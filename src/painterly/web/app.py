"""The studio's HTTP side: the JSON API, the event stream, the page and its assets.

``create_app`` builds a FastAPI app around one :class:`~painterly.web.jobs.Studio`; the
workers start and stop with the app (its lifespan). Errors are JSON ``{"error": message}``
with a fitting status. Uploads are read through a byte counter: past ``max_upload_bytes`` (for
a clip, ``ClipLimits.max_bytes``) the request is refused with 413 before the rest is read, so
an oversized upload is never stored whole. The API is documented in docs/web.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive

from painterly.errors import InputError
from painterly.settings import Settings
from painterly.version import __version__
from painterly.web.clips import ClipLimits, parse_options, video_available
from painterly.web.clips import submit as submit_clip
from painterly.web.executors import run_task
from painterly.web.guard import Guard
from painterly.web.instant import add_instant
from painterly.web.jobs import Executor, QueueFull, Studio, Upload, check_image, plain_message
from painterly.web.schema import parse_settings, settings_schema
from painterly.web.store import PREVIEW, RESULT_TYPES, TERMINAL, Store, result_name

MAX_STYLES = 8
KEEPALIVE_SECONDS = 15.0
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")


def create_app(
    data_dir: str | Path,
    *,
    max_upload_bytes: int = 20 * 2**20,
    max_data_bytes: int = 2 * 2**30,
    queue_size: int = 8,
    workers: int = 1,
    token: str | None = None,
    hosts: Collection[str] | None = None,
    preview_interval: float = 0.5,
    executor: Executor | None = None,
    clip_limits: ClipLimits | None = None,
) -> FastAPI:
    """The studio app, keeping its jobs under ``data_dir``.

    ``token``: required on every ``/api/`` request when set. ``hosts``: the only Host names
    answered (None: any). ``preview_interval``: seconds between preview images.
    ``executor``: where jobs run (None: on the worker threads, in this process).
    ``clip_limits``: the largest clip taken (None: the defaults of ClipLimits).
    """
    studio = Studio(
        Store(Path(data_dir), max_data_bytes),
        queue_size=queue_size,
        workers=workers,
        preview_interval=preview_interval,
        executor=executor if executor is not None else run_task,
    )
    limits = clip_limits if clip_limits is not None else ClipLimits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio.start()
        try:
            yield
        finally:
            await run_in_threadpool(studio.stop)

    app = FastAPI(title="painterly studio", version=__version__, lifespan=lifespan)
    app.state.studio = studio
    app.add_middleware(Guard, token=token, hosts=hosts)
    _add_error_handlers(app)
    _add_api(app, studio, max_upload_bytes, token is not None, limits)
    add_instant(app, lambda request, **kw: read_form(request, max_upload_bytes, **kw))
    _add_page(app)
    return app


# --- errors -----------------------------------------------------------------------------------


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": str(exc.errors())}, 422)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 422)


# --- the API ----------------------------------------------------------------------------------


def _add_api(
    app: FastAPI, studio: Studio, max_upload_bytes: int, token_required: bool, limits: ClipLimits
) -> None:
    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return {
            "version": __version__,
            "max_upload_bytes": max_upload_bytes,
            "max_styles": MAX_STYLES,
            "token_required": token_required,
            "clips": limits.to_dict(),
        }

    _add_meta(app, studio)
    _add_jobs(app, studio, max_upload_bytes)
    _add_clips(app, studio, limits)
    _add_outputs(app, studio)


def _add_meta(app: FastAPI, studio: Studio) -> None:
    @app.get("/api/settings")
    def schema() -> dict[str, Any]:
        return settings_schema()

    @app.get("/api/jobs")
    def list_jobs() -> dict[str, Any]:  # without each job's history: GET a job for its curves
        return {"jobs": [_view(r, history=False) for r in studio.list()]}


def _add_jobs(app: FastAPI, studio: Studio, max_upload_bytes: int) -> None:
    @app.post("/api/jobs", status_code=201)
    async def create_job(request: Request) -> dict[str, Any]:
        async with read_form(request, max_upload_bytes, max_files=MAX_STYLES + 1) as form:
            settings = parse_settings(_settings_json(form.get("settings")))
            content, styles = _files(form)
            record = await run_in_threadpool(
                _admit,
                studio,
                lambda job_id, folder: _submit(studio, job_id, folder, content, styles, settings),
            )
        return _view(record)

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return _view(_known(studio, job_id))

    @app.delete("/api/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict[str, Any]:
        record = _known(studio, job_id)
        if record["state"] in TERMINAL:
            raise HTTPException(409, f"job {job_id} has already ended ({record['state']})")
        cancelled = studio.cancel(job_id)
        return _view(cancelled if cancelled is not None else record)


def _add_outputs(app: FastAPI, studio: Studio) -> None:
    @app.get("/api/jobs/{job_id}/events")
    def job_events(job_id: str) -> StreamingResponse:
        _known(studio, job_id)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            _events(studio, job_id), media_type="text/event-stream", headers=headers
        )

    @app.get("/api/jobs/{job_id}/preview")
    def job_preview(job_id: str) -> FileResponse:
        path = _file(studio, job_id, PREVIEW, "no preview yet")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/result")
    def job_result(job_id: str) -> FileResponse:
        result_format = _known(studio, job_id).get("format", "png")
        path = _file(
            studio, job_id, result_name(result_format), "no result: the job has not finished"
        )
        return FileResponse(
            path,
            media_type=RESULT_TYPES[result_format],
            filename=f"painterly-{job_id[:8]}.{result_format}",
        )


def _add_clips(app: FastAPI, studio: Studio, limits: ClipLimits) -> None:
    @app.post("/api/clips", status_code=201)
    async def create_clip(request: Request) -> dict[str, Any]:
        if not video_available():
            raise HTTPException(501, "clips need PyAV and OpenCV: pip install 'painterly[video]'")
        async with read_form(request, limits.max_bytes, max_files=1) as form:
            clip = form.get("clip")
            if not isinstance(clip, UploadFile):
                raise HTTPException(422, "exactly one 'clip' file is needed")
            options = parse_options(form)

            def submit(job_id: str, folder: Path) -> dict[str, Any]:
                upload = _save(clip, "clip", folder / "clip")
                return submit_clip(studio, job_id, upload, options, limits)

            record = await run_in_threadpool(_admit, studio, submit)
        return _view(record)


def read_form(request: Request, limit: int, *, max_files: int, max_fields: int = 4) -> Any:
    """The request's multipart form (an async context manager), read through a byte
    counter: a body over ``limit`` bytes is refused with 413 before the rest is read."""
    _check_length(request, limit)
    limited = Request(request.scope, _limited(request.receive, limit))
    return limited.form(max_files=max_files, max_fields=max_fields)


def _check_length(request: Request, limit: int) -> None:
    """Refuse at once a body that declares itself too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload too large: the limit is {limit // 2**20} MB")


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops with 413 once more than ``limit`` body bytes have come."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise HTTPException(413, f"upload too large: the limit is {limit // 2**20} MB")
        return message

    return limited


def _settings_json(raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise HTTPException(422, "settings: expected a JSON text field, not a file")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise HTTPException(422, f"settings: not valid JSON ({exc})") from None


def _files(form: FormData) -> tuple[UploadFile, list[UploadFile]]:
    contents = [f for f in form.getlist("content") if isinstance(f, UploadFile)]
    styles = [f for f in form.getlist("style") if isinstance(f, UploadFile)]
    if len(contents) != 1:
        raise HTTPException(422, "exactly one 'content' file is needed")
    if not styles:
        raise HTTPException(422, "at least one 'style' file is needed")
    if len(styles) > MAX_STYLES:
        raise HTTPException(422, f"at most {MAX_STYLES} style files")
    return contents[0], styles


def _admit(studio: Studio, submit: Callable[[str, Path], dict[str, Any]]) -> dict[str, Any]:
    """A new job folder, in which ``submit(job_id, folder)`` saves and checks the uploads
    and queues the job. Runs in a worker thread (file copies, decoding). Nothing is left
    behind on refusal; a full queue is 429."""
    job_id = studio.store.new_id()
    folder = studio.store.create(job_id)
    try:
        return submit(job_id, folder)
    except QueueFull:
        studio.store.remove(job_id)
        raise HTTPException(429, "the queue is full: wait for a job to finish") from None
    except BaseException:
        studio.store.remove(job_id)
        raise


def _submit(
    studio: Studio,
    job_id: str,
    folder: Path,
    content: UploadFile,
    styles: list[UploadFile],
    settings: Settings,
) -> dict[str, Any]:
    """Save a painting's uploads in its folder, check they are images, queue the job."""
    uploads = [_save(content, "content", folder / "content")]
    uploads += [_save(f, "style", folder / f"style{n}") for n, f in enumerate(styles, 1)]
    for upload in uploads:
        try:
            check_image(upload.path, settings.max_input_pixels)
        except InputError as exc:
            message = plain_message(exc)
            raise HTTPException(415, f"{upload.role} {upload.name!r}: {message}") from None
    return studio.submit(job_id, uploads, settings)


def _save(upload: UploadFile, role: str, stem: Path) -> Upload:
    """Copy an upload to ``stem`` plus a sanitised suffix (the decoder does not need it, but a
    person looking in the folder does)."""
    name = Path(upload.filename or role).name[:200]
    suffix = Path(name).suffix.lower()
    path = stem.with_suffix(suffix if _SUFFIX.match(suffix) else ".img")
    upload.file.seek(0)
    with open(path, "wb") as fh:
        shutil.copyfileobj(upload.file, fh, 1 << 20)
    return Upload(role, name, path)


def _known(studio: Studio, job_id: str) -> dict[str, Any]:
    if not studio.store.valid_id(job_id):
        raise HTTPException(404, "no such job")
    record = studio.get(job_id)
    if record is None:
        raise HTTPException(404, "no such job")
    return record


def _file(studio: Studio, job_id: str, name: str, missing: str) -> Path:
    _known(studio, job_id)
    path = studio.file(job_id, name)
    if path is None:
        raise HTTPException(404, missing)
    return path


def _view(record: dict[str, Any], history: bool = True) -> dict[str, Any]:
    """The record as the API shows it: plus the URLs of its event stream and images
    (``history=False``: without the loss history, for lists)."""
    base = f"/api/jobs/{record['id']}"
    preview = record.get("preview")
    if not history:
        record = {k: v for k, v in record.items() if k != "history"}
    return {
        **record,
        "urls": {
            "self": base,
            "events": f"{base}/events",
            "preview": f"{base}/preview?step={preview}" if preview is not None else None,
            "result": f"{base}/result" if record.get("result") else None,
        },
    }


async def _events(studio: Studio, job_id: str) -> AsyncIterator[str]:
    """Server-sent events: the job's current state at once, then each change, until it ends.

    Changes that come faster than the client reads are merged: it always gets the latest.
    """
    watcher = studio.watch(job_id)
    try:
        yield "retry: 2000\n\n"
        sent = None
        while True:
            watcher.event.clear()
            record = studio.get(job_id)
            if record is None:  # evicted meanwhile
                yield 'event: end\ndata: {"reason": "gone"}\n\n'
                return
            payload = json.dumps(_view(record))
            if payload != sent:
                yield f"event: job\ndata: {payload}\n\n"
                sent = payload
            if record["state"] in TERMINAL:
                yield f'event: end\ndata: {{"state": "{record["state"]}"}}\n\n'
                return
            try:
                await asyncio.wait_for(watcher.event.wait(), KEEPALIVE_SECONDS)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        studio.unwatch(job_id, watcher)


# --- the page ---------------------------------------------------------------------------------


def _static_dir() -> Path:
    return Path(str(resources.files("painterly.web") / "static"))


def _add_page(app: FastAPI) -> None:
    static = _static_dir()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=static), name="static")


__all__ = ["create_app"]
