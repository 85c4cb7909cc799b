"""The edge check of a ``multipart/form-data`` body (an upload) before Starlette parses it.

Starlette's form parser, left alone, decodes a text field that is not valid UTF-8 as
Latin-1 (``\\xff\\xfe`` stored as ``ÿþ``), takes a body cut before its closing
delimiter as whole (the parts after the cut silently dropped), and refuses the rest
with a bare ``400``. ``MultipartCheckMiddleware`` reads the body (already capped by
``BodyLimitMiddleware``) with the same parser, python-multipart, without keeping any
part, and answers in the error format:

* ``400 malformed_multipart``: the Content-Type names no boundary, the body does not
  parse as multipart, a part names no field, or the body ends before its closing
  delimiter (``--boundary--``);
* ``415 unsupported_media_type``: a ``charset`` other than UTF-8 (Starlette would
  decode the text fields with it, or with Latin-1 if it names no codec);
* ``422 validation_failed`` naming each text field (a part without a ``filename``)
  that is not valid UTF-8.

Anything else goes on to the app, handed the body in the chunks it was read in.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Iterable

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import Receive, Scope, Send

from domain.errors import RoostError, UnsupportedMediaType, ValidationFailed
from infra.http.errors import MALFORMED_MULTIPART, error_response
from infra.http.idempotency import OFF_LOOP_BYTES
from infra.http.middleware import HttpMiddleware, read_chunks, refeed

NOT_UTF8 = "must be valid UTF-8 text"


def parse_problem(error: FormParserError) -> str:
    """What python-multipart refused, in the API's words: its own message names its
    parser's states and an offset within one chunk, which means nothing to a client."""
    said = str(error).lower()
    if "header" in said:
        return ("a part's headers are malformed or too long (at most 8 'Name: value' "
                "lines of at most 4,224 bytes, each ending in CRLF)")
    if "boundary" in said:
        return ("it does not start with '--' and the boundary its Content-Type names, "
                "or a line does not end in CRLF")
    return "it is not multipart/form-data (RFC 7578)"


def _malformed(problem: str) -> RoostError:
    return RoostError(f"the multipart body {problem}", code=MALFORMED_MULTIPART)


class _Parts:
    """python-multipart's callbacks: whether the closing delimiter came, which part
    named no field, and which text fields are not UTF-8 (decoded as they stream in,
    never held)."""

    def __init__(self) -> None:
        self.ended = False
        self.unnamed = False
        self.not_utf8: dict[str, str] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._field: str | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._bad = False

    def on_part_begin(self) -> None:
        self._disposition, self._field, self._decoder, self._bad = b"", None, None, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            self.unnamed = True
            return
        self._field = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:  # a text field, as Starlette tells them apart
            self._decoder = codecs.getincrementaldecoder("utf-8")()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._decode(data[start:end], final=False)

    def on_part_end(self) -> None:
        self._decode(b"", final=True)
        if self._bad and self._field is not None:
            self.not_utf8.setdefault(self._field, NOT_UTF8)

    def on_end(self) -> None:
        self.ended = True

    def _decode(self, data: bytes, *, final: bool) -> None:
        if self._decoder is None or self._bad:
            return
        try:
            self._decoder.decode(data, final=final)
        except UnicodeDecodeError:
            self._bad = True


def form_refusal(content_type: bytes | None, chunks: Iterable[bytes]) -> RoostError | None:
    """Why a body of this Content-Type cannot be read as a form as sent, or ``None``
    (also for a body that is not ``multipart/form-data``)."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    if not boundary:
        return _malformed("has no boundary (Content-Type: multipart/form-data; "
                          "boundary=...)")
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    try:
        utf8 = codecs.lookup(charset).name == "utf-8"
    except LookupError:
        utf8 = False
    if not utf8:
        return UnsupportedMediaType(f"multipart text fields are read as UTF-8: charset="
                                    f"{charset[:40]} is not supported")
    parts = _Parts()
    parser = MultipartParser(boundary, {
        "on_part_begin": parts.on_part_begin, "on_part_data": parts.on_part_data,
        "on_part_end": parts.on_part_end, "on_header_field": parts.on_header_field,
        "on_header_value": parts.on_header_value, "on_header_end": parts.on_header_end,
        "on_headers_finished": parts.on_headers_finished, "on_end": parts.on_end})
    try:
        for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        return _malformed(f"does not parse: {parse_problem(exc)}")
    if parts.unnamed:
        return _malformed("has a part whose Content-Disposition names no field "
                          "(name=...)")
    if not parts.ended:
        return _malformed("is cut short: it ends before its closing delimiter "
                          "(--boundary--)")
    if parts.not_utf8:
        return ValidationFailed(parts.not_utf8)
    return None


class MultipartCheckMiddleware(HttpMiddleware):
    """Refuse a ``multipart/form-data`` body that Starlette would misread
    (``form_refusal``); run inside ``BodyLimitMiddleware``, which caps it."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = next((value for name, value in scope["headers"]
                             if name == b"content-type"), None)
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or content_type is None or \
                parse_options_header(content_type)[0] != b"multipart/form-data":
            await self.app(scope, receive, send)
            return
        chunks = await read_chunks(receive)
        if chunks is None:  # the client went away
            return
        # A large form is read again in a worker thread, not on the event loop (~6 ms
        # for 16 MiB), as its Idempotency-Key fingerprint is.
        refusal = await asyncio.to_thread(form_refusal, content_type, chunks) \
            if sum(map(len, chunks)) >= OFF_LOOP_BYTES else form_refusal(content_type, chunks)
        if refusal is not None:
            response = error_response(refusal.status, refusal.code, refusal.message,
                                      refusal.details)
            await response(scope, receive, send)
            return
        await self.app(scope, refeed(chunks, receive), send)
