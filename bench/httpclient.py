"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

The load generator needs the cheapest possible client so that, on a 2-core
machine shared with the servers, it takes little CPU from what it measures
(one shared ``httpx.AsyncClient`` tops out near 550 req/s, STACK.md). It
speaks just enough HTTP for uvicorn: Content-Length and chunked bodies,
``Connection: close``. Requests are pre-encoded bytes.
"""

from __future__ import annotations

import asyncio
import socket

HEAD_END = b"\r\n\r\n"


class HttpError(Exception):
    """The connection broke or the answer was not HTTP."""


def encode_request(method: str, path: str, host: str, token: str | None = None,
                   body: bytes | None = None) -> bytes:
    """One request, ready to write to a keep-alive connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + (body or b"")


class HttpConnection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    @property
    def usable(self) -> bool:
        """Not closed by us, nor by the server (an idle keep-alive connection past
        uvicorn's 5 s ``timeout_keep_alive``: a request sent on it fails)."""
        return not self.closed and not self.reader.at_eof()

    async def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """Status, body and the raw header block of the answer."""
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(HEAD_END)
            if not head.startswith(b"HTTP/1."):
                raise HttpError(f"not an HTTP answer: {head[:40]!r}")
            status = int(head[9:12])
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                end = lower.index(b"\r\n", at + 2)
                body = await self.reader.readexactly(int(lower[at + 17:end]))
            elif b"\r\ntransfer-encoding: chunked" in lower:
                body = await self._chunked()
            else:
                body = b""
            if b"\r\nconnection: close" in lower:
                self.close()
            return status, body, head
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as error:
            self.close()
            raise HttpError(repr(error)) from error

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        for _ in range(100_000):  # bounded: a body of at most 100k chunks
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        raise HttpError("too many chunks")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


def header_value(head: bytes, name: bytes) -> bytes | None:
    """A header's value from a raw header block (case-insensitive name)."""
    lower = head.lower()
    at = lower.find(b"\r\n" + name.lower() + b":")
    if at < 0:
        return None
    end = lower.index(b"\r\n", at + 2)
    return head[at + 3 + len(name):end].strip()
