"""Refuse a JSON body holding values JSON does not have.

Python's ``json.loads``, which FastAPI decodes bodies with, takes ``NaN``, ``Infinity``
and ``-Infinity`` (not in RFC 8259's grammar) and reads a number beyond a double's
range (``1e999``) as infinity. A body carrying one was accepted: an ignored field went
through, a typed one was a 422. Such a body is now the 400 ``malformed_json`` that
API.md promises for a body that is not valid JSON, before any handler runs. Other
decoding failures are left to FastAPI (also ``malformed_json``).
"""

from __future__ import annotations

import json
import math
from typing import NoReturn

import orjson
from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.http.errors import error_response
from infra.http.middleware import HttpMiddleware, read_chunks, refeed

MESSAGE = ("the body is not valid JSON: NaN, Infinity and numbers beyond a double's range "
           "are not JSON values")


class _NonFinite(ValueError):
    pass


def _refuse(_constant: str) -> NoReturn:
    raise _NonFinite


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NonFinite
    return value


def holds_non_finite(body: bytes) -> bool:
    """Whether ``body`` decodes as JSON only by taking ``NaN``, ``Infinity``,
    ``-Infinity`` or a number beyond a double's range (False for a body that is not
    JSON at all, or is plain JSON).

    orjson (C) answers first: what it decodes is plain JSON (it refuses those values
    itself), ~6x faster than ``json`` with hooks on a 64 KiB body. Only a body it
    refuses, for those values or for anything else (a lone surrogate escape, which
    FastAPI's ``json`` takes and the text rules refuse with a 422), is decoded again
    to tell which."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        return False
    try:
        json.loads(body, parse_constant=_refuse, parse_float=_finite)
    except _NonFinite:
        return True
    except (ValueError, RecursionError):  # not JSON at all: FastAPI answers it
        return False
    return False


def is_json(content_type: bytes | None) -> bool:
    """Whether FastAPI decodes a body of this type as JSON: ``application/json`` or
    ``application/*+json`` (a body without a type is not decoded: FastAPI's
    ``strict_content_type``, on by default)."""
    if content_type is None:
        return False
    media = parse_options_header(content_type)[0].lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json"))


class NonFiniteJsonMiddleware(HttpMiddleware):
    """400 ``malformed_json`` for a JSON body ``holds_non_finite`` finds; run inside
    ``BodyLimitMiddleware``, which caps the body it reads.

    Only on paths whose bodies are JSON at most ``max_bytes`` long (``ROOST_MAX_BODY_BYTES``):
    a path with a larger limit of its own (``POST /api/media``, a form) is left to its
    handler, which refuses JSON, so no client can make this decode megabytes before
    being authenticated."""

    def __init__(self, app: ASGIApp, skip_paths: frozenset[str] = frozenset()) -> None:
        super().__init__(app)
        self.skip_paths = skip_paths

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = next((value for name, value in scope["headers"]
                             if name == b"content-type"), None)
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not is_json(content_type) \
                or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        chunks = await read_chunks(receive)
        if chunks is None:  # the client went away
            return
        if holds_non_finite(b"".join(chunks)):
            response = error_response(400, "malformed_json", MESSAGE)
            await response(scope, receive, send)
            return
        await self.app(scope, refeed(chunks, receive), send)
