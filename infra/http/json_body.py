"""Refuse a JSON body holding values JSON does not have, or a member name twice.

Python's ``json.loads``, which FastAPI decodes bodies with, takes ``NaN``, ``Infinity``
and ``-Infinity`` (not in RFC 8259's grammar) and reads a number beyond a double's
range (``1e999``) as infinity. A body carrying one was accepted: an ignored field went
through, a typed one was a 422. It also keeps the last of two members of one name
(``{"text": "a", "text": "b"}``), where other parsers keep the first or refuse:
RFC 8259 section 4 says names SHOULD be unique and that software differs on objects
whose names are not, so a proxy, a log or a client library may read another request
than Roost does. Such a body is now the 400 ``malformed_json`` that API.md promises
for a body that is not valid JSON, before any handler runs. Other decoding failures
are left to FastAPI (also ``malformed_json``).
"""

from __future__ import annotations

import email.message
import json
import math
import re
from typing import Any, NoReturn

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.http.errors import error_response
from infra.http.middleware import HttpMiddleware, read_chunks, refeed

NON_FINITE = ("the body is not valid JSON: NaN, Infinity and numbers beyond a double's "
              "range are not JSON values")
NOT_UTF8 = "the body is not valid JSON: JSON bodies must be UTF-8 (RFC 8259 section 8.1)"
NUL_BYTE = ("the body is not valid JSON: it holds a NUL byte (JSON bodies are UTF-8, never "
            "UTF-16 or UTF-32; a NUL in a string is written \\u0000)")
DUPLICATE_NAME = "the body is not valid JSON for Roost: an object has two members named {name}"


class _Refused(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _refuse(_constant: str) -> NoReturn:
    raise _Refused(NON_FINITE)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(NON_FINITE)
    return value


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Refused(DUPLICATE_NAME.format(name=json.dumps(name)[:100]))
            seen.add(name)
    return members


_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:)?')
"""A JSON string token, and the colon that makes it a member name. Over valid JSON,
``findall`` takes every string from its opening quote to its closing one in turn, so
it never starts inside one."""


def json_refusal(body: bytes) -> str | None:
    """Why ``body``, read as JSON the way FastAPI reads it, is refused before any
    handler: it decodes only by taking ``NaN``, ``Infinity``, ``-Infinity`` or a number
    beyond a double's range (``NON_FINITE``), an object in it has two members of one
    name (``DUPLICATE_NAME``), or it is not UTF-8 (``NOT_UTF8``, ``NUL_BYTE``: Python's
    ``json`` would take UTF-16 or UTF-32 too); ``None`` for plain JSON (a UTF-8 byte
    order mark allowed, which RFC 8259 lets a parser ignore) and for a body that is not
    JSON at all (FastAPI answers that).

    Cost: orjson (C) reads the body first, and only a body it refuses is decoded again
    by ``json`` with hooks, to tell why; member names are compared only when one raw
    name occurs twice in the body or holds an escape (``_names_repeat``), which no
    request of Roost's needs: about 10 us for a 200-byte post body (timeit, on a busy
    machine; docs/performance.md)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    if "\x00" in text:  # no JSON holds a NUL byte: UTF-16 or UTF-32, which json would read
        return NUL_BYTE
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:  # NaN and the like, a BOM, or no JSON at all: which?
        return _refusal_of_json(text.removeprefix("\ufeff"))
    return _refusal_of_json(text) if _names_repeat(body) else None


def _names_repeat(body: bytes) -> bool:
    """Whether two member names of ``body`` (valid JSON) may be equal: one raw name
    occurs twice anywhere in it, or a name holds an escape (``"\\u0074ext"`` is
    ``"text"``)."""
    names = [name for name, colon in _STRING.findall(body) if colon]
    return len(set(names)) != len(names) or any(b"\\" in name for name in names)


def _refusal_of_json(text: str) -> str | None:
    try:
        json.loads(text, parse_constant=_refuse, parse_float=_finite, object_pairs_hook=_unique)
    except _Refused as refused:
        return refused.message
    except (ValueError, RecursionError):  # not JSON at all: FastAPI answers it
        return None
    return None


def is_json(content_type: bytes | None) -> bool:
    """Whether FastAPI decodes a body of this type as JSON, decided as FastAPI decides
    it (``fastapi.routing``: the header, as Starlette decodes it, read by
    ``email.message``, which also strips a trailing NBSP that ``parse_options_header``
    keeps): type ``application``, subtype ``json`` or ``*+json``. A body without a type
    is not decoded (FastAPI's ``strict_content_type``, on by default)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type.decode("latin-1")
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


class StrictJsonMiddleware(HttpMiddleware):
    """400 ``malformed_json`` for a JSON body ``json_refusal`` refuses; run inside
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
        if (refused := json_refusal(b"".join(chunks))) is not None:
            response = error_response(400, "malformed_json", refused)
            await response(scope, receive, send)
            return
        await self.app(scope, refeed(chunks, receive), send)
