"""The HTTP prediction service: ``create_app(source, ...)`` returns the FastAPI app serving one model name.

Routes parse the raw body once (orjson) and answer with pre-serialised JSON: the hot path of a one-row
prediction is a few dictionary lookups, the schema check, the predictor and a queue put. Every refusal is
a ``RequestProblem`` -> 4xx ``{"error": ..., "problems": [{"row", "field", "message"}]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import hone
from hone.config.schema import ServeSettings
from hone.data.schema import Problem, SchemaViolation
from hone.errors import HoneError, StoreError
from hone.serve import requests as formats
from hone.serve.metrics import ServiceMetrics, prediction_buckets
from hone.serve.requests import RequestProblem
from hone.serve.source import ModelSource, ServedModel, follow_alias
from hone.store.logbook import PredictionIds, PredictionLog, id_key

logger = logging.getLogger("hone.serve")

ENDPOINTS = ("/predict", "/feedback", "/health", "/ready", "/models", "/metrics", "/admin/reload")
# Bodies up to this size are predicted on the event loop (a thread hop costs more than the work);
# larger ones in the thread pool so that one big batch does not stall every other request.
INLINE_BYTES = 16 * 1024
JSON = "application/json"


class Service:
    """What the routes share: the model source, the log, the metrics and the settings."""

    def __init__(
        self, source: ModelSource, settings: ServeSettings, log_dir: str | Path, token: str | None
    ) -> None:
        self.source = source
        self.settings = settings
        self.log_dir = Path(log_dir)
        self.token = token.encode() if token else None
        self.max_body = int(settings.max_body_mb * 1024 * 1024)
        self.log: PredictionLog | None = None  # opened by the app's lifespan
        # Keyed ids (see PredictionIds): /feedback refuses ids this log's services never issued.
        self.ids = PredictionIds(id_key(self.log_dir / source.name))
        profile = source.current.version.profile if source.current is not None else None
        self.metrics = ServiceMetrics(source, lambda: self.log, prediction_buckets(profile))

    # -- checks shared by the routes -----------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        if self.token is None:
            raise RequestProblem(
                401,
                f"{request.url.path} needs a bearer token, and this server has none:"
                " start it with HONE_TOKEN set",
                kind="unauthorized",
            )
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = credentials.strip().encode("latin-1")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, self.token):
            raise RequestProblem(
                401, "missing or wrong token: send 'Authorization: Bearer <HONE_TOKEN>'", kind="unauthorized"
            )

    def served(self) -> ServedModel:
        current = self.source.current
        if current is None:
            raise RequestProblem(503, f"no version of {self.source.name!r} is loaded yet", kind="not_ready")
        return current

    async def read_json(self, request: Request) -> bytes:
        """The raw body of a JSON request, within the size limit (parse it with ``formats.parse_json``)."""
        media = request.headers.get("content-type", "")
        kind = media.split(";", 1)[0].strip().lower()
        if kind != JSON and not (kind.startswith("application/") and kind.endswith("+json")):
            raise RequestProblem(
                415,
                f"send JSON with 'Content-Type: application/json' (got {media or 'no content type'!r})",
                kind="unsupported_media_type",
            )
        return await self._read(request)

    async def _read(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise RequestProblem(400, f"bad Content-Length {declared!r}", kind="malformed_request")
            self._check_size(int(declared))
            return await request.body()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            self._check_size(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_size(self, size: int) -> None:
        if size > self.max_body:
            raise RequestProblem(
                413,
                f"body of {size / 1024 / 1024:.1f} MB; this server takes at most"
                f" {self.settings.max_body_mb:g} MB (serve.max_body_mb)",
                kind="too_large",
            )

    # -- prediction ------------------------------------------------------------------------------------
    def predict(self, served: ServedModel, body: bytes) -> bytes:
        """Parse, check, predict, log: the JSON answer (runs on the loop or in a worker thread)."""
        payload = formats.parse_json(body)
        records = formats.records_from_payload(payload, served.schema, self.settings.max_rows)
        try:
            rows = served.schema.check_records(records)
        except SchemaViolation as violation:
            raise RequestProblem(
                422, f"invalid input: {violation.message}", violation.problems, kind="schema"
            ) from None
        try:
            predictions = served.predictor.predict_rows(rows)
        except (HoneError, ValueError) as error:
            # Values the schema accepts but the model cannot use (a zero denominator of a derived feature,
            # a number beyond float32): the request's fault, not the server's.
            message = str(error).splitlines()[0]
            raise RequestProblem(
                422,
                f"the model cannot predict on these values: {message}",
                [Problem(None, "(record)", message)],
                kind="prediction_refused",
            ) from None
        ids = self.ids.take(len(rows))
        if self.log is not None:
            self.log.log_predictions(
                ids, served.number, rows, predictions, schema=served.schema, task=served.task
            )
        self.metrics.observe_predictions(served.name, served.number, served.task, predictions)
        values = predictions if predictions.dtype.kind == "f" else predictions.tolist()
        answer = {"model": served.name, "version": served.number, "predictions": values, "ids": ids}
        if served.schema.ids:
            answer["id_columns"] = served.schema.record_ids(records)  # the caller's own row ids, echoed
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


class RequestMetrics:
    """ASGI middleware counting every request by endpoint and status, with its latency."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(_endpoint(scope["path"]), status, time.perf_counter() - started)


def _endpoint(path: str) -> str:
    # Unknown paths share one label: scanners must not create a time series per URL.
    return path if path in ENDPOINTS else "other"


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def create_app(
    source: ModelSource,
    *,
    settings: ServeSettings | None = None,
    log_dir: str | Path,
    token: str | None = None,
) -> FastAPI:
    """The service for ``source.name``; load the champion first (``source.start()``) or let startup try."""
    settings = settings or ServeSettings()
    service = Service(source, settings, log_dir, token)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.log = PredictionLog(service.log_dir, source.name)
        if source.current is None:
            try:
                await asyncio.to_thread(source.start)
            except HoneError as error:  # serve anyway: /ready says 503 until the alias points somewhere
                logger.warning("%s", error)
        watcher = asyncio.create_task(follow_alias(source, settings.reload_seconds))
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            # After uvicorn's graceful shutdown no request is in flight: everything logged gets written.
            await asyncio.to_thread(service.log.close)

    app = FastAPI(
        title=f"hone: {source.name}",
        version=hone.__version__,
        description="Predictions of the champion version of a registered model.",
        lifespan=lifespan,
    )
    app.state.service = service
    _install_error_handlers(app, service)
    _add_routes(app, service)
    documents: dict[int | None, dict[str, Any]] = {}  # by served version: rebuilt after a switch
    app.openapi = lambda: _openapi(app, service, documents)  # type: ignore[method-assign]
    app.add_middleware(RequestMetrics, metrics=service.metrics)
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    source = service.source
    refused: dict[int | str, dict[str, Any]] = {
        code: {"model": formats.ErrorOut, "description": text}
        for code, text in (
            (400, "Malformed JSON"),
            (401, "Missing or wrong bearer token"),
            (413, "Too many rows or too large a body"),
            (415, "Not JSON"),
            (422, "Values the model cannot take; problems name the row and field"),
            (503, "No model loaded yet"),
        )
    }

    @app.post(
        "/predict",
        response_model=formats.PredictOut,
        responses=refused,
        openapi_extra={"requestBody": _body(formats.predict_body_schema(None, service.settings.max_rows))},
    )
    async def predict(request: Request) -> Response:
        """Predict one record, ``{"records": [...]}`` or ``{"columns": {...}}`` with the served version."""
        if service.settings.protect_predict:
            service.authorize(request)
        served = service.served()
        body = await service.read_json(request)
        if len(body) <= INLINE_BYTES:
            return _json(service.predict(served, body))
        return _json(await run_in_threadpool(service.predict, served, body))

    @app.post(
        "/feedback",
        response_model=formats.FeedbackOut,
        responses=refused,
        openapi_extra={"requestBody": _body(formats.feedback_body_schema(None, service.settings.max_rows))},
    )
    async def feedback(request: Request) -> Response:
        """Record true labels of earlier predictions by their ids (bearer token)."""
        service.authorize(request)
        payload = formats.parse_json(await service.read_json(request))
        task = source.current.task if source.current is not None else "regression"
        ids, labels = formats.feedback_from_payload(payload, task, service.settings.max_rows)
        given = ids
        refused = [row for row, identifier in enumerate(ids) if not service.ids.issued(identifier)]
        if refused:
            service.metrics.count_refused_feedback(len(refused))
            unknown = set(refused)
            ids = [identifier for row, identifier in enumerate(ids) if row not in unknown]
            labels = [label for row, label in enumerate(labels) if row not in unknown]
        if service.log is not None and ids:
            service.log.log_feedback(ids, labels, task=task)
        if refused:
            raise formats.unknown_ids(given, refused)
        return _json({"accepted": len(ids)})

    @app.get("/health", response_model=formats.HealthOut)
    async def health() -> Response:
        """The process is alive."""
        return _json({"status": "ok"})

    @app.get("/ready", response_model=formats.ReadyOut, responses={503: {"model": formats.ReadyOut}})
    async def ready() -> Response:
        """200 when a model is loaded and predictions can be served, else 503."""
        current = source.current
        if current is None:
            return _json({"status": "not ready", "model": source.name, "version": None}, 503)
        return _json({"status": "ready", "model": current.name, "version": current.number})

    @app.get("/models", response_model=formats.ModelsOut)
    def models() -> Response:
        """Every registered version of the served model, its metrics and aliases, and which one is served."""
        return _json(_models(service))

    @app.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    not_loaded = {
        "model": formats.ErrorOut,
        "description": "The new version would not load; the old one serves",
    }

    @app.post(
        "/admin/reload", response_model=formats.ReloadOut, responses={401: refused[401], 409: not_loaded}
    )
    async def reload(request: Request) -> Response:
        """Check the champion alias now and switch if it moved (bearer token)."""
        service.authorize(request)
        try:
            outcome = await asyncio.to_thread(source.refresh, force=True)
        except StoreError as error:
            raise RequestProblem(409, error.message, kind="reload_failed") from None
        return _json(
            {
                "model": source.name,
                "version": outcome.current,
                "previous": outcome.previous,
                "switched": outcome.switched,
            }
        )


def _models(service: Service) -> dict[str, Any]:
    source = service.source
    aliases = source.registry.aliases(source.name)
    named: dict[int, list[str]] = {}
    for alias, number in sorted(aliases.items()):
        named.setdefault(number, []).append(alias)
    serving = source.current.number if source.current is not None else None
    versions = [
        {
            "version": version.version,
            "created_at": version.created_at.isoformat(),
            "created_by": version.created_by,
            "task": version.task,
            "description": version.description,
            "metrics": version.metrics,
            "aliases": named.get(version.version, []),
            "serving": version.version == serving,
        }
        for version in source.registry.versions(source.name)
    ]
    return {"model": source.name, "serving": serving, "aliases": aliases, "versions": versions}


def _install_error_handlers(app: FastAPI, service: Service) -> None:
    def refusal(request: Request, problem: RequestProblem) -> Response:
        service.metrics.count_error(_endpoint(request.url.path), problem.kind)
        headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
        return _json(problem.body(), problem.status, headers)

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestProblem)
        return refusal(request, error)

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = [
            Problem(None, ".".join(str(part) for part in item.get("loc", ())), str(item.get("msg", "")))
            for item in error.errors()
        ]
        first = problems[0] if problems else Problem(None, "(request)", "invalid request")
        return refusal(request, RequestProblem(422, f"invalid request: {first}", problems))

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        message = f"{request.method} {request.url.path}: {error.detail}"
        return refusal(request, RequestProblem(error.status_code, message, kind=f"http_{error.status_code}"))

    async def on_bug(request: Request, error: Exception) -> Response:
        logger.exception("%s %s failed", request.method, request.url.path, exc_info=error)
        service.metrics.count_error(_endpoint(request.url.path), "internal")
        return _json(
            {"error": f"internal error ({type(error).__name__}); the server log has the details"}, 500
        )

    app.add_exception_handler(RequestProblem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_bug)


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema}}}


def _openapi(app: FastAPI, service: Service, documents: dict[int | None, dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document, with the request bodies of the version being served."""
    current = service.source.current
    key = current.number if current is not None else None
    if key in documents:
        return documents[key]
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    paths = document["paths"]
    max_rows = service.settings.max_rows
    schema = current.schema if current is not None else None
    task = current.task if current is not None else None
    paths["/predict"]["post"]["requestBody"] = _body(formats.predict_body_schema(schema, max_rows))
    paths["/feedback"]["post"]["requestBody"] = _body(formats.feedback_body_schema(task, max_rows))
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    protected = ["/feedback", "/admin/reload"] + (["/predict"] if service.settings.protect_predict else [])
    for path in protected:
        paths[path]["post"]["security"] = [{"bearer": []}]
    documents.clear()
    documents[key] = document
    return document


__all__ = ["Service", "create_app"]
