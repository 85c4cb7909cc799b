"""``Idempotency-Key``: a retried write answers what the first one answered.

Clients retry writes after timeouts; without this a retried post would be
posted twice. For POST/PATCH/PUT/DELETE carrying the header:

* the key is scoped to the account of a valid bearer token, else (sign-up,
  login) to the client address, so two callers never share a key;
* the request's fingerprint is sha256(method, path, query, body), a multipart body
  with its boundary fixed (clients draw a new one for each send); a body of
  ``OFF_LOOP_BYTES`` or more (an upload) is hashed in a worker thread, not on the
  event loop, and handed on in the chunks it came in;
* the first request reserves the key (``SET NX`` with a short lock TTL, so a
  crashed process frees it), runs, and its status, headers and body are kept
  for ``ttl_s`` (24 h) -- unless it failed on our side (5xx) or was about the
  caller rather than the operation (401 credentials, 429 pace): then the
  reservation is dropped so that a retry runs for real; likewise a request
  refused as malformed or invalid (400, 413, 422): nothing ran, and the
  corrected request may use the same key;
* a repeat with the same fingerprint is answered from Redis, with
  ``Idempotency-Replayed: true``, without calling the app: nothing is appended;
* the same key with another fingerprint is 422 ``idempotency_key_reused``;
* a repeat arriving while the first still runs waits up to ``in_flight_wait_s``
  (polling Redis) and is replayed if the first finishes in time, else answered
  409 ``idempotency_key_in_flight`` with ``Retry-After: 1``. Waiting a little
  covers the usual case (a client timeout retried at once) without holding
  connections open for a slow write.

Redis is the fast path, not the record: the middleware also leaves an
``IdempotencyClaim`` in the request's scope state, and the command bus records
the key with the command's events (``commands/idempotency.py``), so a retry
that Redis forgot -- or never stored, because it failed after the append --
is still answered from the original result. If Redis fails while reserving,
the request runs guarded by that record alone; if it fails while storing the
answer, the failure is logged and the answer stands.

It must run inside BodyLimitMiddleware, which caps the body it reads whole.
A replay does not pass through rate limiting: it costs one Redis read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message as MimeHeaders
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands.idempotency import IdempotencyClaim
from infra.http.client_identity import bearer_account_id, client_address
from infra.http.deps import IDEMPOTENCY_STATE
from infra.http.errors import error_response
from infra.http.middleware import refeed
from infra.lua import load_script
from infra.security import JwtTokens

METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
MAX_KEY_LENGTH = 200
# Not kept: the caller's credentials or pace (401, 429), and requests refused as
# malformed or invalid before anything ran (400, 413, 422), so a corrected retry
# with the same key runs.
NOT_STORED = frozenset({400, 401, 413, 422, 429})
REPLAYED = (b"idempotency-replayed", b"true")
# Quota headers describe the first request's moment, not the replay's.
DROPPED_HEADERS = frozenset({b"x-ratelimit-limit", b"x-ratelimit-remaining",
                             b"x-ratelimit-reset", b"retry-after"})
POLL_S = 0.02
FIXED_DELIMITER = b"--roost-boundary"
OFF_LOOP_BYTES = 64 * 1024
log = structlog.get_logger(__name__)

_FINISH = load_script("infra.http", "idempotency_finish")
_RELEASE = load_script("infra", "delete_if_holder")

RedisSource = Redis | Callable[[], Redis]

IN_FLIGHT_LOCK_S = 60.0
"""How long a key stays locked by a request still running it (seconds): a process
killed mid-request leaves its keys locked this long, and their retries are 409."""


def key_problem(values: list[bytes]) -> str | None:
    """Why these Idempotency-Key header values are unusable, or None."""
    if len(values) > 1:
        return "must be sent once"
    value = values[0]
    if not 1 <= len(value) <= MAX_KEY_LENGTH or any(not 0x21 <= b <= 0x7E for b in value):
        return f"must be 1-{MAX_KEY_LENGTH} visible ASCII characters"
    return None


def fingerprint(scope: Scope, body: bytes) -> str:
    """sha256 of the method, path, query and body; a multipart body with its boundary
    replaced by a fixed one (every multipart client picks a new boundary for each
    send, so a retried upload would otherwise never match its first attempt)."""
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope["query_string"]):
        digest.update(part + b"\n")
    boundary = multipart_boundary(scope)
    if boundary is None:
        digest.update(body)
        return digest.hexdigest()
    # what body.replace(b"--" + boundary, FIXED_DELIMITER) would hash, without its copy
    delimiter, view, start = b"--" + boundary, memoryview(body), 0
    while (found := body.find(delimiter, start)) >= 0:
        digest.update(view[start:found])
        digest.update(FIXED_DELIMITER)
        start = found + len(delimiter)
    digest.update(view[start:])
    return digest.hexdigest()


async def fingerprint_off_loop(scope: Scope, chunks: Sequence[bytes]) -> str:
    """``fingerprint`` of the body read in ``chunks``; in a worker thread when it has
    ``OFF_LOOP_BYTES`` or more (an upload: sha256 of a 16 MiB body takes tens of
    milliseconds, and releases the GIL while it hashes, so the event loop serves other
    requests meanwhile)."""
    if sum(len(chunk) for chunk in chunks) < OFF_LOOP_BYTES:
        return fingerprint(scope, b"".join(chunks))
    return await asyncio.to_thread(lambda: fingerprint(scope, b"".join(chunks)))


def multipart_boundary(scope: Scope) -> bytes | None:
    """The boundary of a ``multipart/*`` request body (RFC 2046 5.1.1), else ``None``."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            header = MimeHeaders()
            header["content-type"] = value.decode("latin-1")
            boundary = header.get_param("boundary") if header.get_content_maintype() == \
                "multipart" else None
            return boundary.encode("latin-1") if isinstance(boundary, str) and boundary \
                else None
    return None


@dataclass
class _Captured:
    """What the app sent, forwarded as it goes and kept for storing."""

    send: Send
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    complete: bool = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            self.body.append(bytes(message.get("body", b"")))
            self.complete = not message.get("more_body", False)
        await self.send(message)

    def storable(self) -> bool:
        return (self.complete and self.status is not None and self.status < 500
                and self.status not in NOT_STORED)

    def record(self, print_: str) -> str:
        return json.dumps({
            "state": "done", "fp": print_, "status": self.status,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers
                        if k.lower() not in DROPPED_HEADERS],
            "body": base64.b64encode(b"".join(self.body)).decode(),
        })


class IdempotencyMiddleware:
    """Pure ASGI; ``redis`` is a client or a callable returning the app's client
    (it usually exists only once the lifespan has started)."""

    def __init__(self, app: ASGIApp, redis: RedisSource, keys_prefix: str,
                 tokens: JwtTokens, ttl_s: int = 86400, *, lock_ttl_s: float = IN_FLIGHT_LOCK_S,
                 in_flight_wait_s: float = 2.0, trust_forwarded_for: bool = False) -> None:
        self.app = app
        self._redis = redis
        self._prefix = keys_prefix
        self._tokens = tokens
        self._ttl_ms = int(ttl_s * 1000)
        self._lock_ms = int(lock_ttl_s * 1000)
        self._wait_s = in_flight_wait_s
        self._trust_forwarded_for = trust_forwarded_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope["headers"] if k.lower() == b"idempotency-key"]
        if not values:
            await self.app(scope, receive, send)
            return
        problem = key_problem(values)
        if problem is not None:
            await error_response(422, "validation_failed", f"Idempotency-Key: {problem}",
                                 {"fields": {"Idempotency-Key": problem}})(scope, receive, send)
            return
        chunks = await _read_body(receive)
        if chunks is None:
            return
        owner, print_ = self._owner(scope), await fingerprint_off_loop(scope, chunks)
        claim = IdempotencyClaim(owner, values[0].decode("ascii"), print_)
        scope.setdefault("state", {})[IDEMPOTENCY_STATE] = claim  # for the command bus: durable
        key = self._key(owner, values[0])
        await self._once(key, print_, scope, refeed(chunks, receive), send)

    async def _once(self, key: str, print_: str, scope: Scope, receive: Receive,
                    send: Send) -> None:
        redis = self._redis if isinstance(self._redis, Redis) else self._redis()
        deadline = time.monotonic() + self._wait_s
        while True:
            reservation = json.dumps({"state": "running", "fp": print_,
                                      "token": secrets.token_hex(16)})
            try:
                reserved = await redis.set(key, reservation, nx=True, px=self._lock_ms)
                stored = None if reserved else await redis.get(key)
            except RedisError as error:  # the event store's record of the key still guards
                log.warning("idempotency.redis_unavailable", error=repr(error))
                await self.app(scope, receive, send)
                return
            if reserved:
                await self._run(redis, key, reservation, print_, scope, receive, send)
                return
            if stored is None:  # freed between our two calls: try to reserve again
                continue
            record: dict[str, Any] = json.loads(stored)
            if record["fp"] != print_:
                await _reused(scope, receive, send)
                return
            if record["state"] == "done":
                await _replay(record, send)
                return
            if time.monotonic() >= deadline:
                await _in_flight(scope, receive, send)
                return
            await asyncio.sleep(POLL_S)

    async def _run(self, redis: Redis, key: str, reservation: str, print_: str,
                   scope: Scope, receive: Receive, send: Send) -> None:
        captured, kept = _Captured(send), False
        try:
            await self.app(scope, receive, captured)
            if captured.storable():
                try:
                    await redis.eval(_FINISH, 1, key, reservation, captured.record(print_),
                                     self._ttl_ms)
                    kept = True
                except RedisError as error:  # answered already; the event store keeps the key
                    log.warning("idempotency.not_cached", error=repr(error))
        finally:
            if not kept:  # let a retry run; if Redis fails here, the lock TTL frees it
                with contextlib.suppress(Exception):
                    await redis.eval(_RELEASE, 1, key, reservation)

    def _owner(self, scope: Scope) -> str:
        account = bearer_account_id(scope, self._tokens)
        return f"account:{account}" if account is not None else \
            f"ip:{client_address(scope, self._trust_forwarded_for)}"

    def _key(self, owner: str, idempotency_key: bytes) -> str:
        digest = hashlib.sha256(idempotency_key).hexdigest()[:32]
        return f"{self._prefix}idempotency:{owner}:{digest}"


async def _read_body(receive: Receive) -> list[bytes] | None:
    """The whole body in the chunks it came in (BodyLimitMiddleware has capped it), or
    None on disconnect."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks


async def _replay(record: dict[str, Any], send: Send) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record["headers"]]
    await send({"type": "http.response.start", "status": record["status"],
                "headers": [*headers, REPLAYED]})
    await send({"type": "http.response.body", "body": base64.b64decode(record["body"])})


async def _reused(scope: Scope, receive: Receive, send: Send) -> None:
    reason = "was already used for a different request"
    await error_response(422, "idempotency_key_reused", f"Idempotency-Key: {reason}",
                         {"fields": {"Idempotency-Key": reason}})(scope, receive, send)


async def _in_flight(scope: Scope, receive: Receive, send: Send) -> None:
    await error_response(
        409, "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still running; retry shortly",
        {"retry_after_s": 1}, {"Retry-After": "1"},
    )(scope, receive, send)
