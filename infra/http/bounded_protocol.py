"""uvicorn's HTTP/1.1 protocol with a bound on a request's head (431 past it).

uvicorn's httptools protocol reads a request line and headers of any size: an
8 MB header, or 100,000 headers, was served (200), and a 100 MB one grew the
API process by ~190 MB while it was read. Proxies bound the head (nginx
answers ``431``/``414`` past 8 KB per line and 32 KB in all by default,
``large_client_header_buffers``); Roost bounds it too, so a process is safe
without one. ``BoundedHeadProtocol`` counts the bytes a request's head has
taken so far, after each chunk the parser is fed, and past ``MAX_HEAD_BYTES``
answers ``431`` in the API's error format and closes the connection: memory per
connection stays within the bound plus one read (the loop reads at most 256 KB
at a time). It also strips the whitespace httptools leaves after a header's
value (RFC 9110 5.5). Passed to uvicorn as its ``http`` protocol class
(``infra.runners``, ``infra.api_processes``); ``tests/unit/test_bounded_protocol.py``
pins the uvicorn version whose protocol it extends.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

WRITTEN_FOR_UVICORN: Final = "0.54.0"
MAX_HEAD_BYTES: Final = 32 * 1024
"""The request line and every header together (nginx's default total, 4 x 8 KB)."""
LINGER_BYTES: Final = 1024 * 1024
LINGER_S: Final = 2.0
"""After a 431, what the client still sends is dropped up to this much, this long."""

_BODY: Final = orjson.dumps({"error": {
    "code": "headers_too_large",
    "message": f"the request line and headers may take at most {MAX_HEAD_BYTES} bytes",
    "details": {"limit_bytes": MAX_HEAD_BYTES}}})
REFUSAL: Final = b"".join([
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    b"content-type: application/json\r\n",
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n",
    b"connection: close\r\n\r\n", _BODY])


class _HeadTooLarge(Exception):
    """Raised from the parser's callbacks: the parser stops, and uvicorn's protocol
    answers its parse error through ``send_400_response``, which answers 431 instead
    when the head was too large."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` refusing a request whose head passes ``MAX_HEAD_BYTES``:
    counted as the parser reports the URL and each header (a head that arrives in one
    read), and as bytes arrive while the head is not complete (one that never ends)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._received = 0
        """Bytes received since the head began (or since the last one completed)."""
        self._parsed = 0
        """The URL's and the headers' bytes the parser has reported for this head."""
        self._discarded: int | None = None
        """Bytes dropped since the 431 (``None``: not refused)."""

    def data_received(self, data: bytes) -> None:
        if self._discarded is not None:  # refused: lingering, the rest is dropped
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.transport.close()
            return
        if self._in_head:
            self._received += len(data)
        super().data_received(data)
        if self._in_head and self._received > MAX_HEAD_BYTES:
            self._refuse()

    def send_400_response(self, msg: str) -> None:
        if self._parsed > MAX_HEAD_BYTES:
            self._refuse()  # the parse "error" was ours: the head passed the bound
            return
        # A request the parser cannot read (an unknown method, raw bytes in the target,
        # a negative Content-Length, both Content-Length and chunked): 400 in the API's
        # error format, not uvicorn's plain text, then closed as uvicorn does.
        body = orjson.dumps({"error": {
            "code": "malformed_request", "message": "the HTTP request could not be read: "
            f"{msg.rstrip('.').lower()}", "details": {}}})
        self.transport.write(b"".join([
            b"HTTP/1.1 400 Bad Request\r\n",
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self.transport.close()

    def _refuse(self) -> None:
        """Answer 431, then close as nginx's lingering close does: the answer is
        followed by the end of our side, and what the client still sends is read and
        dropped for a moment (at most ``LINGER_BYTES``, ``LINGER_S``) before the
        close, so the kernel does not reset the connection over unread bytes and
        lose the answer on its way."""
        if self._discarded is not None or self.transport.is_closing():
            return
        self._discarded = 0
        self.transport.write(REFUSAL)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_S, self.transport.close)

    def _count(self, size: int) -> None:
        self._parsed += size
        if self._parsed > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._parsed = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        # RFC 9110 5.5: whitespace around a field value is no part of it (httptools
        # leaves the trailing one: "Roost-Min-Position: 5 " was a 422)
        super().on_header(name, value.strip(b" \t"))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._received = 0  # a pipelined next request counts from here
        super().on_headers_complete()
