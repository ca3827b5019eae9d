"""What every service's HTTP app shares: JSON errors, /metrics, request counting, /health.

Every 4xx/5xx answer is `{"detail": "<plain English>", "code": "<snake_case>"}`, never a
traceback or HTML (shared/API.md). `service_app` builds a service's app with all of that, so
no service writes its own error handlers or health route."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol, get_type_hints

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.errors import AppError

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "mlops_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "mlops_http_request_seconds", "Time to answer an HTTP request", ["service", "route"]
)

_STATUS_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Please sign in first."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that kind of request."),
    413: ("too_large", "The file is too large."),
    415: ("not_csv", "Please upload a CSV file."),
}


def error_response(
    status: int, detail: str, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return "The request is not valid JSON. Please check its brackets, quotes and commas."
    if any(e.get("type") == "model_attributes_type" for e in errors):
        return 'The request should be a JSON object, like {"rows": [...]}.'
    problems = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = str(error.get("msg", "is not valid")).rstrip(".")
        problems.append(f"'{where}': {message.lower()}" if where else message)
    return "Some of what was sent is not right: " + "; ".join(problems) + "."


def install_common(app: FastAPI, service: str) -> None:
    """Add JSON error handlers, request metrics and GET /metrics to a service's app."""

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        # An error may carry headers of its own, e.g. `busy` its Retry-After.
        return error_response(exc.status, exc.detail, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _describe_validation(exc), "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, default = _STATUS_CODES.get(exc.status_code, ("error", "Something went wrong."))
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else default
        return error_response(exc.status_code, detail, code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "Something went wrong on our side. Please try again in a moment.", "internal_error"
        )

    @app.middleware("http")
    async def _count(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_SECONDS.labels(service, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    async def _metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class ServiceHealth(BaseModel):
    """A service's /health answer: its status, then whatever details it tells (extra fields,
    e.g. the trainer's `busy`, the predictor's `default_model`)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "degraded", "down"]


class Connection(Protocol):
    """What a health check needs of the bus: a round trip to the broker."""

    async def ping(self) -> bool: ...


def connection_health(
    connection: Connection, details: Callable[[], Mapping[str, object]] = dict
) -> Callable[[], Awaitable[ServiceHealth]]:
    """The health of a service that works through the bus: "ok" while the broker answers a
    ping, "degraded" while not (it still answers HTTP, so never "down"), with its `details`."""

    async def health() -> ServiceHealth:
        up = await connection.ping()
        return ServiceHealth(status="ok" if up else "degraded", **details())

    return health


def service_app(
    service: str, health: Callable[[], Awaitable[BaseModel]], **fastapi_kwargs: Any
) -> FastAPI:
    """A service's FastAPI app: the common error handlers and /metrics (`install_common`) and
    `GET /health`, which answers `health()`'s model as JSON with 503 when its `status` is
    "down" (load balancers read the code), else 200.

    Internal services have no /docs or /redoc unless `fastapi_kwargs` ask for them; the
    OpenAPI schema shows the model `health` is annotated to return."""
    app = FastAPI(**{"title": service, "docs_url": None, "redoc_url": None, **fastapi_kwargs})
    install_common(app, service)

    @app.get("/health", response_model=_answer_model(health))
    async def _health() -> JSONResponse:
        answer = await health()
        status = 503 if getattr(answer, "status", None) == "down" else 200
        return JSONResponse(answer.model_dump(mode="json"), status_code=status)

    return app


def _answer_model(health: Callable[[], Awaitable[BaseModel]]) -> type[BaseModel]:
    try:
        answer = get_type_hints(health).get("return")
    except Exception:  # an annotation that cannot be resolved only costs the docs their detail
        answer = None
    return answer if isinstance(answer, type) and issubclass(answer, BaseModel) else ServiceHealth
