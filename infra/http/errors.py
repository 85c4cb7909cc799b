"""Every error answer has one shape: ``{"error": {code, message, details}}``."""

from __future__ import annotations

from typing import Any

import structlog
from eventsourcing.persistence import OperationalError as EventSourcingOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from psycopg import OperationalError as PsycopgOperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisClusterException, RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from domain.errors import RoostError
from ports.errors import DependencyUnavailable, Overloaded

log = structlog.get_logger(__name__)

# FastAPI raises a bare 400 when the body cannot be read as JSON at all (e.g. it is
# not UTF-8): the same answer as any other unreadable body. For a multipart body the
# 400 is Starlette's refusal of the form: MALFORMED_MULTIPART.
_STATUS_CODES = {400: "malformed_json", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
                 429: "rate_limited"}
MALFORMED_MULTIPART = "malformed_multipart"
"""A ``multipart/form-data`` body that cannot be read as sent (``infra.http.multipart``;
Starlette's own refusals of one, e.g. a text part over 1 MiB, get the code too)."""
_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_PATH_NOT_FOUND = {"username": ("account_not_found", "account not found"),
                   "post_id": ("post_not_found", "post not found"),
                   "media_id": ("media_not_found", "medium not found"),
                   "variant": ("media_not_found", "medium not found")}
_NOT_AN_OBJECT = {
    "json_invalid": "the body is not valid JSON",
    "model_attributes_type": "the body must be a JSON object",
    "dict_type": "the body must be a JSON object",
    "missing": "a JSON object body is required, sent as Content-Type: application/json",
}
"""What a body FastAPI could not read as the route's object is told (400 ``malformed_json``),
by the validation error's type."""


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in _LOCATIONS]
    return ".".join(parts) or "body"


def _reason(error: Any) -> str:
    """The human reason: a rule's own sentence (without pydantic's "Value error, ")."""
    if error.get("type") == "value_error" and "error" in error.get("ctx", {}):
        said = str(error["ctx"]["error"])
        if said.startswith("Expected UploadFile"):  # FastAPI's UploadFile: a text part
            return "must be a file: a part whose Content-Disposition has filename=..."
        return said
    if error.get("type") in ("too_long", "too_short") and isinstance(error.get("input"), str):
        # a string length checked after a validator: pydantic says "items"
        bound = error.get("ctx", {}).get("max_length" if error["type"] == "too_long"
                                         else "min_length")
        return f"must be at {'most' if error['type'] == 'too_long' else 'least'} {bound} " \
            "characters"
    return str(error.get("msg", "is invalid"))


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] == "path":  # a segment that cannot be a username or an id
            code, message = _PATH_NOT_FOUND.get(str(loc[-1]), ("not_found", "no such resource"))
            return error_response(404, code, message)
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] == "body" and (len(loc) == 1 or error["type"] == "json_invalid") \
                and error["type"] in _NOT_AN_OBJECT:
            message = _NOT_AN_OBJECT[error["type"]]
            if error["type"] != "json_invalid" and isinstance(exc.body, bytes):
                # bytes where an object was wanted: not decoded, so not sent as JSON
                message = _NOT_AN_OBJECT["missing"]
            return error_response(400, "malformed_json", message)
    fields: dict[str, str] = {}
    for error in errors:
        name = _field_name(tuple(error.get("loc", ())))
        fields.setdefault(name, _reason(error))
    message = "; ".join(f"{name}: {reason}" for name, reason in fields.items())
    return error_response(422, "validation_failed", message, {"fields": fields})


def allowed_methods(request: Request) -> list[str]:
    """Every method of every route whose path matches the request, sorted, with
    ``HEAD`` wherever ``GET`` is (``HeadAsGetMiddleware`` answers it).

    FastAPI registers one route per method, and Starlette's own 405 lists only
    the methods of the first route whose path matched.
    """
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        route_methods = getattr(route.original_route, "methods", None)
        if route.path and route_methods and \
                compile_path(route.path)[0].match(request.scope["path"]):
            methods.update(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _is_multipart(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RoostError)
    async def roost_error(_: Request, exc: RoostError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        if exc.status_code == 400 and _is_multipart(request):
            code = MALFORMED_MULTIPART
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, code, str(exc.detail), headers=headers or None)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        """At capacity (a bounded queue is full): 503 with the adapter's Retry-After;
        nothing was done, so a retry is safe."""
        log.warning("http.overloaded", path=request.url.path, error=str(exc))
        return error_response(503, "overloaded", str(exc),
                              {"retry_after_s": exc.retry_after_s},
                              headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(DependencyUnavailable)
    @app.exception_handler(RedisError)
    @app.exception_handler(RedisClusterException)  # a Redis Cluster none of whose nodes answer
    @app.exception_handler(PsycopgOperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(EventSourcingOperationalError)
    async def dependency_down(request: Request, exc: Exception) -> JSONResponse:
        """A store that does not answer is our problem, not the client's: 503, retryable."""
        log.error("http.dependency_unavailable", path=request.url.path, error=repr(exc))
        return error_response(503, "service_unavailable",
                              "a backing service did not answer; retry shortly",
                              headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path, error=repr(exc))
        return error_response(500, "internal_error", "something went wrong on our side")
