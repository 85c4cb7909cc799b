"""ASGI middleware: body size limit, request metrics and access logs, and
``HttpMiddleware``, the skeleton every middleware of ours shares."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.http.errors import error_response
from infra.metrics import REQUEST_LATENCY

log = structlog.get_logger("roost.http")


def refeed(chunks: Sequence[bytes], receive: Receive) -> Receive:
    """A ``receive`` that hands an already-read body to the app, in the chunks it was
    read in (never joined: a large upload is then parsed a chunk at a time, between
    other requests' steps, not in one piece), then defers."""
    pending = deque(chunks or [b""])

    async def replay() -> Message:
        if pending:
            body = pending.popleft()
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return await receive()

    return replay


async def read_chunks(receive: Receive) -> list[bytes] | None:
    """The whole body, in the chunks it arrives in; None when the client disconnects
    first. Only behind ``BodyLimitMiddleware``, which bounds what is held."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return chunks


class HttpMiddleware(ABC):
    """An ASGI middleware that sees HTTP requests only: anything else (the lifespan)
    goes to the app untouched. A subclass writes ``http``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    @abstractmethod
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request (``scope["type"] == "http"``), calling ``self.app``."""


_ANSWER_HEADERS: ContextVar[dict[bytes, bytes] | None] = ContextVar(
    "roost_answer_headers", default=None)


def add_answer_header(name: str, value: str) -> None:
    """Put a header on the answer to the request being handled, whatever it turns out
    to be -- the route's own, or an error answer that an exception handler builds
    afresh (FastAPI keeps the headers of a dependency's ``Response`` only on success).
    Nothing outside ``AnswerHeadersMiddleware``."""
    headers = _ANSWER_HEADERS.get()
    if headers is not None:
        headers[name.lower().encode("latin-1")] = value.encode("latin-1")


class AnswerHeadersMiddleware(HttpMiddleware):
    """Adds what ``add_answer_header`` left to the request's answer (replacing a header
    of that name). The request's headers live in a dict set in a ``ContextVar`` here, so
    a route run in a copy of the context (a task of its own) still reaches it."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[bytes, bytes] = {}
        token = _ANSWER_HEADERS.set(headers)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and headers:
                kept = [(k, v) for k, v in message.get("headers", [])
                        if k.lower() not in headers]
                message = {**message, "headers": kept + list(headers.items())}
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            _ANSWER_HEADERS.reset(token)


HEAD = "roost.head"
"""Set in a request's state when it is a ``HEAD`` answered as a ``GET``
(``HeadAsGetMiddleware``): a route may then skip reading what it would not send
(``is_head``)."""


def is_head(state: Mapping[str, Any]) -> bool:
    """Whether the request whose ``scope["state"]`` this is came as ``HEAD``."""
    return bool(state.get(HEAD))


class HeadAsGetMiddleware(HttpMiddleware):
    """Answer ``HEAD`` as the ``GET`` of the same URL, without its body (RFC 9110
    9.3.2: the same status and header fields, ``Content-Length`` included), so caches,
    CDNs and health checkers can probe any readable resource (a medium's bytes, a
    profile, ``/health``) without a ``405``.

    The routes see a copy of the scope saying ``GET``; the server, which keeps its
    own scope saying ``HEAD``, sends no body, and neither does this middleware (an
    ASGI test client would). Once the header fields are sent, the route's
    ``receive`` reports the client gone, so a live stream ends instead of streaming
    into nothing. A path that has no ``GET`` answers ``405`` as before."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = False

        async def until_answered() -> Message:
            if answered:
                return {"type": "http.disconnect"}
            return await receive()

        async def headers_only(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif message["type"] != "http.response.body":
                await send(message)  # anything else (extensions) as it comes

        scope.setdefault("state", {})[HEAD] = True  # one state, shared with the copy
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, until_answered, headers_only)
        finally:  # what routing found, for the outer middlewares (the metrics' route)
            scope.update({k: v for k, v in as_get.items() if k not in scope})


class BodyLimitMiddleware(HttpMiddleware):
    """Refuse bodies above ``max_bytes`` with 413 before any handler runs.

    The body is read up front (it is small by construction), so a chunked
    upload that lies about its size is caught too. ``larger`` gives some paths a
    limit of their own (``POST /api/media``: ``(bytes, field)``, the refusal then
    naming ``field`` in ``details.fields``); no more than that is ever held.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: dict[str, tuple[int, str]] | None = None) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.larger = larger or {}

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        max_bytes, field = self.larger.get(scope["path"], (self.max_bytes, None))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._too_large(scope, receive, send, max_bytes, field)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await self._too_large(scope, receive, send, max_bytes, field)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, refeed(chunks, receive), send)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, max_bytes: int,
                         field: str | None) -> None:
        details: dict[str, Any] = {"max_bytes": max_bytes}
        if field is not None:
            details["fields"] = {field: f"must be at most {max_bytes} bytes with the form"}
        response = error_response(
            413, "body_too_large", f"the body must be at most {max_bytes} bytes", details)
        await response(scope, receive, send)


CLIENT_CLOSED = 499
"""The status recorded for a request that ended with no answer and no error."""


class MetricsMiddleware(HttpMiddleware):
    """Latency histogram by route template, and one structured log line a request.

    Every answer says which API process gave it: ``Roost-Process: <pid>`` (several
    processes may serve one port, ``infra.api_processes``)."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.process_header = (b"roost-process", str(os.getpid()).encode())

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        # No answer started: 500 if the app raised, else 499 ("client closed request",
        # nginx's code): the client went away before there was anything to answer
        # (a body cut off, or an unreadable chunk the HTTP server refused itself).
        status: dict[str, Any] = {"code": CLIENT_CLOSED}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", ()), self.process_header]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except BaseException:
            if status["code"] == CLIENT_CLOSED:
                status["code"] = 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], template, str(status["code"])).observe(elapsed)
            log.info("http.request", method=scope["method"], path=scope["path"],
                     route=template, status=status["code"], ms=round(elapsed * 1000, 2))
