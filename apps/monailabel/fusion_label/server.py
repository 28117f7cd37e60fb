# Copyright (c) monai-fusion contributors
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""The ASGI app that ``serve.py`` runs: MONAI Label's FastAPI app (``monailabel.app:app``), hardened.

MONAI Label's app is taken as it is and wrapped (the installed package is not modified):

* **token** (``$MONAI_FUSION_LABEL_TOKEN``, set by ``serve.py`` from ``--conf auth_token`` too): when set, every
  request needs ``Authorization: Bearer <token>``; only ``GET /auth/`` and ``POST /auth/token`` (MONAI Label's login
  protocol, where the password is the token, for viewers such as 3D Slicer) answer without it;
* **browsers**: MONAI Label's CORS middleware (every origin, with credentials) is removed; a request that carries an
  ``Origin`` other than the server's own or one listed in ``cors_origins`` is refused (403), and without a token the
  ``Host`` header must be a loopback name (DNS rebinding);
* **inference** (``POST /infer/{model}``) is replaced: the model must exist (404), the image is a datastore id or an
  uploaded file (never a server path; ``params`` may not name files), the answer for an unreadable image is 415/422,
  and the work runs in worker threads (``infer_concurrency`` at once, ``infer_queue`` waiting, 503 beyond) so the
  event loop keeps answering ``/info/`` and ``/datastore/``;
* **training** (``POST /train/{model}``) is checked first: 404 for a model without a trainer, 422 with fewer labelled
  images than training needs or a class label the model does not have, 400 for bad parameters
  (:meth:`fusion_label.trainers.FusionBundleTrainTask.check_request`), 429 while another training runs (as MONAI
  Label, with the way out in the reason); ``GET /train/`` adds ``"progress"`` (epoch, loss,
  validation metrics: :mod:`fusion_label.progress`) to MONAI Label's status; ``DELETE /train/`` (MONAI Label's)
  stops the running training;
* **archives**: tar files unpacked for sessions (``PUT /session/?uncompress=true``) go through Python's ``data``
  extraction filter (no member outside the target folder; 400 otherwise);
* **errors**: :class:`~fusion_label.security.RequestRefusedError` and MONAI Label's not-found errors become 4xx answers
  ``{"detail": "<one line>"}``; anything else is a 500 with a one-line body, the traceback stays in the log.

uvicorn imports ``fusion_label.server:app``; the app is built at that first access, not at import.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import shutil
import tarfile
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from enum import Enum
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import BackgroundTasks, File, Form, Request, UploadFile

from .compat import patch_pydicom_seg
from .progress import read_progress
from .security import (
    RESULT_EXTENSIONS,
    RequestRefusedError,
    auth_token,
    check_image_file,
    check_name,
    cors_origins,
    image_extension,
    infer_concurrency,
    is_loopback,
    upload_dir,
)

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
#: request ``params`` keys that would name a file or another model; refused (400).
FORBIDDEN_PARAMS = ("image", "image_path", "label", "file", "session", "session_id", "model")
#: answered without a token: MONAI Label's login protocol (the password is the token).
PUBLIC_PATHS = ("/auth/", "/auth/token")

_app = None


class ResultType(str, Enum):
    """``output`` of ``POST /infer/{model}``, as in MONAI Label."""

    image = "image"
    json = "json"
    all = "all"
    dicom_seg = "dicom_seg"


async def _send_json(send: Callable, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), None)


class TokenAuthMiddleware:
    """Refuse (401) every HTTP request without ``Authorization: Bearer <token>``, except :data:`PUBLIC_PATHS`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path") not in PUBLIC_PATHS:
            scheme, _, given = (_header(scope, b"authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await _send_json(
                    send,
                    401,
                    "missing or wrong access token: send the header 'Authorization: Bearer <token>' (the server's "
                    "MONAI_FUSION_LABEL_TOKEN); see docs/monailabel.md",
                    {"WWW-Authenticate": "Bearer"},
                )
                return
        await self.app(scope, receive, send)


class OriginCheckMiddleware:
    """Refuse (403) cross-origin requests from origins not listed, and (without a token) non-loopback ``Host`` names.

    A browser sends ``Origin`` with cross-origin requests; same-origin requests (the server's own pages) and
    non-browser clients (curl, MONAI Label's client, 3D Slicer) are not affected.
    """

    def __init__(self, app: ASGIApp, origins: list[str], loopback_only: bool) -> None:
        self.app = app
        self.origins = set(origins)
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if self.loopback_only and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            await _send_json(
                send,
                403,
                f"Host {host!r} refused: without an access token the server answers loopback names only "
                "(127.0.0.1, localhost); see docs/monailabel.md",
            )
            return
        origin = _header(scope, b"origin")
        if origin is not None and origin not in self.origins and urlsplit(origin).netloc != host:
            await _send_json(
                send,
                403,
                f"cross-origin request from {origin!r} refused; list allowed origins with --conf cors_origins or "
                "MONAI_FUSION_LABEL_CORS_ORIGINS",
            )
            return
        await self.app(scope, receive, send)


def _parse_params(params: str) -> dict[str, Any]:
    try:
        parsed = json.loads(params) if params else {}
    except json.JSONDecodeError as e:
        raise RequestRefusedError(400, f"params is not valid JSON ({e})") from e
    if not isinstance(parsed, dict):
        raise RequestRefusedError(400, f"params must be a JSON object, got {type(parsed).__name__}")
    named = [k for k in FORBIDDEN_PARAMS if k in parsed]
    if named:
        raise RequestRefusedError(
            400, f"params may not set {named}: name a datastore image with ?image=<id> or upload the file as 'file'"
        )
    ext = parsed.get("result_extension")
    if ext is not None and ext not in RESULT_EXTENSIONS:
        raise RequestRefusedError(400, f"result_extension {ext!r} refused; use one of {list(RESULT_EXTENSIONS)}")
    for key in ("label_tag", "model_filename"):  # a tag folder in labels/, a weights file in the bundle's models/
        values = parsed.get(key)
        for value in values if isinstance(values, list) else [] if values is None else [values]:
            check_name(value, key)
    return parsed


def _build() -> Any:
    """Wrap ``monailabel.app:app`` as the module docstring says; MONAI Label's settings must be in place."""
    patch_pydicom_seg()
    from anyio import CapacityLimiter, to_thread
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse
    from monailabel.app import app
    from monailabel.config import settings
    from monailabel.endpoints.infer import send_response
    from monailabel.interfaces.exception import ImageNotFoundException, LabelNotFoundException, MONAILabelException
    from monailabel.interfaces.utils.app import app_instance
    from monailabel.utils.async_tasks.utils import processes
    from monailabel.utils.others.generic import remove_file
    from starlette.middleware.cors import CORSMiddleware as StarletteCORS

    conf = settings.MONAI_LABEL_APP_CONF or {}
    token = auth_token()
    origins = cors_origins(conf)
    origins += [o for o in (str(u).rstrip("/") for u in settings.MONAI_LABEL_CORS_ORIGINS) if o not in origins]
    running, waiting = infer_concurrency(conf)
    state: dict[str, Any] = {"limiter": None, "in_flight": 0}

    # PUT /session/?uncompress=true unpacks uploaded archives with shutil.unpack_archive: tar members such as
    # ../../x or absolute paths would be written anywhere; Python's "data" filter refuses them (tarfile.FilterError)
    tarfile.TarFile.extraction_filter = staticmethod(tarfile.data_filter)

    # MONAI Label's CORS middleware reflects every origin with credentials: drop it
    app.user_middleware[:] = [m for m in app.user_middleware if m.cls not in (CORSMiddleware, StarletteCORS)]

    async def refused(_: Request, exc: RequestRefusedError) -> JSONResponse:
        logger.info("refused (%d): %s", exc.status_code, exc.reason)
        return JSONResponse({"detail": exc.reason}, status_code=exc.status_code)

    async def not_found(_: Request, exc: MONAILabelException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.msg).splitlines()[0]}, status_code=404)

    async def monailabel_error(_: Request, exc: MONAILabelException) -> JSONResponse:
        logger.error("MONAI Label error %s: %s", exc.error, exc.msg)
        status = 400 if exc.error.value == "INVALID_INPUT" else 500
        return JSONResponse({"detail": f"{exc.error.value}: {str(exc.msg).splitlines()[0][:300]}"}, status_code=status)

    async def bad_archive(_: Request, exc: tarfile.FilterError) -> JSONResponse:
        return JSONResponse({"detail": f"archive refused: {str(exc).splitlines()[0][:300]}"}, status_code=400)

    async def internal(_: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error", exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the server log has the details"}, 500)

    app.add_exception_handler(RequestRefusedError, refused)
    app.add_exception_handler(ImageNotFoundException, not_found)
    app.add_exception_handler(LabelNotFoundException, not_found)
    app.add_exception_handler(MONAILabelException, monailabel_error)
    app.add_exception_handler(tarfile.FilterError, bad_archive)
    app.add_exception_handler(Exception, internal)

    # MONAI Label's POST /infer/{model} reads any server path and blocks the event loop: ours (below) is put first in
    # the routing table, so it answers every request for that path

    @app.post("/infer/{model}", summary="Run inference on a datastore image (?image=<id>) or an uploaded file")
    async def infer(
        background_tasks: BackgroundTasks,
        model: str,
        image: str = "",
        session_id: str = "",
        params: Annotated[str, Form()] = "{}",
        file: Annotated[UploadFile | None, File()] = None,
        label: Annotated[UploadFile | None, File()] = None,
        output: ResultType | None = None,
    ) -> Any:
        instance = app_instance()
        if model not in instance._infers:
            raise RequestRefusedError(404, f"unknown model {model!r}; available: {sorted(instance._infers)}")
        request = {**instance.info().get("config", {}).get("infer", {}), **_parse_params(params), "model": model}
        if label is not None and label.filename:
            raise RequestRefusedError(400, "the monai-fusion models take no label input; send the image only")
        if output == ResultType.dicom_seg:
            raise RequestRefusedError(400, "output=dicom_seg needs a DICOMweb datastore; use output=image or json")
        upload = name = None
        if file is not None and file.filename:
            name = os.path.basename(file.filename)
            ext = image_extension(name)
            if not ext:
                check_image_file(os.devnull, name)  # raises 415 with the list of formats
            upload = upload_dir() / f"{uuid.uuid4().hex}{ext}"
            request["image"] = str(upload)
        elif image:
            check_name(image, "image id")
            if not instance.datastore().get_image_uri(image):
                raise RequestRefusedError(404, f"unknown image id {image!r}; GET /datastore/?output=all lists the ids")
            request["image"], name = image, image
        elif session_id:
            session = instance.sessions().get_session(session_id) if instance.sessions() else None
            if session is None:
                raise RequestRefusedError(404, f"unknown or expired session {session_id!r}")
            request["image"], request["session"], name = session.image, session.to_json(), session_id
        else:
            raise RequestRefusedError(400, "no image: upload it as the form field 'file' or name a datastore id")
        if state["in_flight"] >= running + waiting:
            raise RequestRefusedError(503, f"busy: {state['in_flight']} inference requests in progress; retry later")
        if state["limiter"] is None:
            state["limiter"] = CapacityLimiter(running)

        def work() -> dict:
            path = str(upload) if upload else instance.datastore().get_image_uri(image) if image else None
            try:
                if upload:
                    with open(upload, "wb") as out:
                        shutil.copyfileobj(file.file, out)
                    if upload.stat().st_size == 0:
                        check_image_file(upload, name)  # 422: empty
                try:
                    return instance.infer(request)
                except RequestRefusedError:
                    raise
                except Exception:
                    if path:  # was the image unreadable? then the answer is 415/422, else the error is ours (500)
                        check_image_file(path, name if upload else os.path.basename(path))
                    raise
            finally:
                if upload:
                    remove_file(str(upload))

        state["in_flight"] += 1
        try:
            result = await to_thread.run_sync(work, limiter=state["limiter"])
        finally:
            state["in_flight"] -= 1
        if result is None:
            raise RequestRefusedError(500, "inference returned no result; the server log has the details")
        return send_response(instance.datastore(), result, output, background_tasks)

    app.router.routes.insert(0, app.router.routes.pop())

    @app.post("/train/{model}", summary="Train a model on the datastore's labelled images (runs in the background)")
    async def train(model: str, params: dict | None = None, run_sync: bool = False, enqueue: bool = False) -> Any:
        from monailabel.endpoints.train import run_model

        instance = app_instance()
        if model not in instance._trainers:
            raise RequestRefusedError(404, f"no trainer for model {model!r}; trainable: {sorted(instance._trainers)}")
        trainer = instance._trainers[model]
        await to_thread.run_sync(trainer.check_request, params or {}, instance.datastore())
        if processes("train") and not enqueue:
            raise RequestRefusedError(429, "a training is running; GET /train/ shows it, DELETE /train/ stops it")
        progress = getattr(trainer, "progress_file", None)
        if progress and os.path.exists(progress):
            os.remove(progress)  # the last training's progress: not this one's
        return await to_thread.run_sync(run_model, model, params, run_sync, enqueue)

    app.router.routes.insert(0, app.router.routes.pop())

    @app.get("/train/", summary="Status of the last training (or all), with its progress: epoch, loss, metrics")
    async def train_status(all: bool = False, check_if_running: bool = False) -> Any:
        from monailabel.endpoints.train import status

        instance = app_instance()

        def with_progress(task: Any) -> Any:
            model = task.get("request", {}).get("model") if isinstance(task, dict) else None
            trainer = instance._trainers.get(model) if model else None
            path = getattr(trainer, "progress_file", None)
            if not path:
                return task
            return {**task, "details": list(task.get("details", [])), "progress": read_progress(path)}

        result = status(all, check_if_running)
        if isinstance(result, list) and result:
            return [*result[:-1], with_progress(result[-1])]
        return with_progress(result)

    app.router.routes.insert(0, app.router.routes.pop())
    if token:

        @app.get("/auth/", include_in_schema=False)
        async def auth_enabled() -> dict:
            return {"enabled": True, "client_id": "monai-fusion-label"}

        @app.post("/auth/token", include_in_schema=False)
        async def access_token(request: Request) -> Any:
            form = await request.form()
            password = str(form.get("password", ""))
            if not hmac.compare_digest(password.encode(), token.encode()):
                raise RequestRefusedError(401, "wrong password: the password is the server's MONAI_FUSION_LABEL_TOKEN")
            return {"access_token": token, "token_type": "bearer"}

        app.add_middleware(TokenAuthMiddleware, token=token)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "DELETE", "HEAD"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(OriginCheckMiddleware, origins=origins, loopback_only=token is None)
    logger.info(
        "monai-fusion server: token %s; allowed origins %s; inference %d at once, %d waiting",
        "required" if token else "not set (loopback only)",
        origins or "none",
        running,
        waiting,
    )
    return app


def __getattr__(name: str) -> Any:
    """``app``: the hardened ASGI app, built at first access (uvicorn's ``fusion_label.server:app``)."""
    global _app
    if name == "app":
        if _app is None:
            _app = _build()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
