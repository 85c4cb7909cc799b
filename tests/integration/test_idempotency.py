"""Idempotency-Key against a real Redis, through a tiny app wrapped like the real one
(BodyLimitMiddleware outside, IdempotencyMiddleware inside).

Each test has its own Redis prefix and removes its keys.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import httpx
import pytest
import redis.asyncio as aredis
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from infra.http.errors import install_error_handlers
from infra.http.idempotency import IdempotencyMiddleware
from infra.http.middleware import BodyLimitMiddleware
from infra.security import JwtTokens
from infra.settings import Settings
from tests.conftest import make_settings
from tests.integration.conftest import _clear_redis_prefix, wait_until


class Spy:
    """The Redis client, counting GETs (a duplicate polls while the first runs)."""

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self.gets = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def get(self, key: str) -> Any:
        self.gets += 1
        return await self.client.get(key)


class Item(BaseModel):
    text: str


class Harness:
    def __init__(self, settings: Settings, redis: aredis.Redis, **options: Any) -> None:
        self.settings = settings
        self.tokens = JwtTokens(settings)
        self.calls: Counter[str] = Counter()
        self.statuses: deque[int] = deque()
        self.gate = asyncio.Event()
        self.spy = Spy(redis)
        self.app = app = FastAPI()
        install_error_handlers(app)

        @app.post("/items", status_code=201)
        async def create(request: Request) -> JSONResponse:
            self.calls["items"] += 1
            n = self.calls["items"]
            return JSONResponse({"n": n, "echo": (await request.body()).decode()},
                                status_code=201,
                                headers={"Roost-Position": str(100 + n), "Location": f"/items/{n}"})

        @app.delete("/items/{n}", status_code=204)
        async def delete(n: int) -> Response:
            self.calls["delete"] += 1
            return Response(status_code=204, headers={"Roost-Position": str(500 + n)})

        @app.get("/items")
        async def read() -> dict[str, int]:
            self.calls["read"] += 1
            return {"n": self.calls["read"]}

        @app.post("/validated")
        async def validated(item: Item) -> dict[str, str]:
            self.calls["validated"] += 1
            return {"text": item.text}

        @app.post("/sequence")
        async def sequence() -> JSONResponse:
            self.calls["sequence"] += 1
            status = self.statuses.popleft()
            return JSONResponse({"status": status, "call": self.calls["sequence"]}, status)

        @app.post("/boom")
        async def boom() -> dict[str, int]:
            self.calls["boom"] += 1
            if self.calls["boom"] == 1:
                raise RuntimeError("the first attempt crashes")
            return {"call": self.calls["boom"]}

        @app.post("/slow", status_code=201)
        async def slow() -> dict[str, int]:
            self.calls["slow"] += 1
            await self.gate.wait()
            return {"call": self.calls["slow"]}

        app.add_middleware(IdempotencyMiddleware, redis=lambda: cast(aredis.Redis, self.spy),
                           keys_prefix=settings.redis_prefix, tokens=self.tokens, **options)
        app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    def client(self, ip: str = "10.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000),
                                        raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://roost.test")

    def auth(self, account_id: int, key: str) -> dict[str, str]:
        token = self.tokens.access_token(account_id, f"user{account_id}", uuid.uuid4().hex)
        return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}


@pytest.fixture
def settings() -> Iterator[Settings]:
    made = make_settings()
    yield made
    _clear_redis_prefix(made)


@pytest.fixture
def harness(settings: Settings, redis_client: aredis.Redis) -> Harness:
    return Harness(settings, redis_client)


def same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    for name in ("content-type", "content-length", "roost-position", "location"):
        assert again.headers.get(name) == first.headers.get(name), name
    assert "idempotency-replayed" not in first.headers
    assert again.headers["Idempotency-Replayed"] == "true"


async def test_a_repeat_replays_the_first_answer_without_running_again(harness, redis_client,
                                                                       settings):
    alice = harness.auth(1, "key-1")
    async with harness.client() as client:
        first = await client.post("/items?x=1", headers=alice, json={"text": "hello"})
        again = await client.post("/items?x=1", headers=alice, json={"text": "hello"})
    assert first.status_code == 201
    assert first.headers["Roost-Position"] == "101"
    assert first.headers["Location"] == "/items/1"
    same_answer(first, again)
    assert harness.calls["items"] == 1
    keys = [k async for k in redis_client.scan_iter(match=f"{settings.redis_prefix}*")]
    assert len(keys) == 1 and keys[0].decode().startswith(
        f"{settings.redis_prefix}idempotency:account:1:")
    assert 86_390_000 < await redis_client.pttl(keys[0]) <= 86_400_000


async def test_the_same_key_for_another_request_is_refused(harness):
    alice = harness.auth(1, "key-2")
    async with harness.client() as client:
        assert (await client.post("/items", headers=alice, json={"text": "a"})
                ).status_code == 201
        for path, body in (("/items", {"text": "b"}), ("/items?x=1", {"text": "a"}),
                           ("/validated", {"text": "a"})):
            reused = await client.post(path, headers=alice, json=body)
            assert reused.status_code == 422
            error = reused.json()["error"]
            assert error["code"] == "idempotency_key_reused"
            assert set(error["details"]["fields"]) == {"Idempotency-Key"}
    assert harness.calls == Counter({"items": 1})


async def test_keys_are_scoped_per_account_and_per_address(harness):
    async with harness.client("10.0.0.1") as first, harness.client("10.0.0.2") as second:
        a = await first.post("/items", headers=harness.auth(1, "shared"), json={"t": 1})
        b = await first.post("/items", headers=harness.auth(2, "shared"), json={"t": 1})
        anon_1 = await first.post("/items", headers={"Idempotency-Key": "shared"}, json={"t": 1})
        anon_2 = await second.post("/items", headers={"Idempotency-Key": "shared"}, json={"t": 1})
        assert [r.json()["n"] for r in (a, b, anon_1, anon_2)] == [1, 2, 3, 4]
        # A fresh token for the same account is the same scope; so is the same address.
        same_answer(a, await second.post("/items", headers=harness.auth(1, "shared"),
                                         json={"t": 1}))
        same_answer(anon_1, await first.post("/items", headers={"Idempotency-Key": "shared"},
                                             json={"t": 1}))
        # An invalid token is no account: the request is scoped to its address.
        bad = {"Authorization": "Bearer forged", "Idempotency-Key": "shared"}
        same_answer(anon_2, await second.post("/items", headers=bad, json={"t": 1}))
    assert harness.calls["items"] == 4


@pytest.mark.parametrize("first_status", [500, 503, 401, 429, 400, 413, 422])
async def test_server_errors_and_caller_problems_are_not_kept(harness, first_status):
    harness.statuses.extend([first_status, 201])
    headers = harness.auth(1, f"retry-{first_status}")
    async with harness.client() as client:
        failed = await client.post("/sequence", headers=headers)
        assert failed.status_code == first_status
        assert "idempotency-replayed" not in failed.headers
        retried = await client.post("/sequence", headers=headers)
        assert retried.json() == {"status": 201, "call": 2}
        same_answer(retried, await client.post("/sequence", headers=headers))
    assert harness.calls["sequence"] == 2


async def test_client_errors_are_kept(harness):
    harness.statuses.extend([404])
    headers = harness.auth(1, "four-oh-four")
    async with harness.client() as client:
        first = await client.post("/sequence", headers=headers)
        assert first.status_code == 404
        same_answer(first, await client.post("/sequence", headers=headers))
    assert harness.calls["sequence"] == 1


async def test_a_request_refused_as_invalid_leaves_its_key_for_the_corrected_one(harness):
    """A 422 (or 400, 413) was refused before anything ran: the client that fixes its
    request and sends it again with the same key gets it run, not a replayed 422
    or ``idempotency_key_reused`` (as Stripe's keys behave)."""
    async with harness.client() as client:
        invalid = await client.post("/validated", headers=harness.auth(1, "v"), json={})
        assert invalid.status_code == 422
        assert "idempotency-replayed" not in invalid.headers
        fixed = await client.post("/validated", headers=harness.auth(1, "v"),
                                  json={"text": "now valid"})
        assert fixed.status_code == 200, fixed.text
        same_answer(fixed, await client.post("/validated", headers=harness.auth(1, "v"),
                                             json={"text": "now valid"}))
    assert harness.calls["validated"] == 1


async def test_a_crash_frees_the_key_for_a_retry(harness):
    headers = harness.auth(1, "crash")
    async with harness.client() as client:
        assert (await client.post("/boom", headers=headers)).status_code == 500
        retried = await client.post("/boom", headers=headers)
        assert retried.json() == {"call": 2}
        same_answer(retried, await client.post("/boom", headers=headers))


async def test_deletes_replay_their_empty_answer_and_reads_are_untouched(harness):
    headers = harness.auth(1, "delete-7")
    async with harness.client() as client:
        first = await client.delete("/items/7", headers=headers)
        assert (first.status_code, first.headers["Roost-Position"]) == (204, "507")
        same_answer(first, await client.delete("/items/7", headers=headers))
        for _ in range(2):
            assert "idempotency-replayed" not in (await client.get("/items", headers=headers)
                                                  ).headers
    assert harness.calls == Counter({"delete": 1, "read": 2})


async def test_a_chunked_body_has_the_same_fingerprint(harness):
    headers = harness.auth(1, "chunks")

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"text": ', b'"in pieces"', b"}"):
            yield part

    async with harness.client() as client:
        first = await client.post("/items", headers=headers, content=chunks())
        assert first.json()["echo"] == '{"text": "in pieces"}'
        same_answer(first, await client.post("/items", headers=headers,
                                              content=b'{"text": "in pieces"}'))
    assert harness.calls["items"] == 1


@pytest.mark.parametrize("values", [
    [b""], [b"x" * 201], [b"has space"], [b"caf\xc3\xa9"], [b"tab\there"], [b"a", b"b"],
])
async def test_unusable_keys_are_422_and_run_nothing(harness, values):
    headers = [(b"Idempotency-Key", value) for value in values]
    async with harness.client() as client:
        answer = await client.post("/items", headers=headers, json={"text": "x"})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["details"]["fields"]) == {"Idempotency-Key"}
    assert harness.calls["items"] == 0


async def test_the_longest_key_is_fine(harness):
    headers = harness.auth(1, "~" * 200)
    async with harness.client() as client:
        first = await client.post("/items", headers=headers, json={})
        same_answer(first, await client.post("/items", headers=headers, json={}))


async def test_a_duplicate_of_a_running_request_is_409(settings, redis_client):
    harness = Harness(settings, redis_client, in_flight_wait_s=0)
    headers = harness.auth(1, "in-flight")
    async with harness.client() as client:
        running = asyncio.create_task(client.post("/slow", headers=headers))
        await wait_until(lambda: harness.calls["slow"] == 1, timeout=5,
                         message="the first request to start")
        duplicate = await client.post("/slow", headers=headers)
        assert duplicate.status_code == 409
        assert duplicate.headers["Retry-After"] == "1"
        assert duplicate.json()["error"]["code"] == "idempotency_key_in_flight"
        harness.gate.set()
        first = await asyncio.wait_for(running, 5)
        assert first.status_code == 201
        same_answer(first, await client.post("/slow", headers=headers))
    assert harness.calls["slow"] == 1


async def test_a_duplicate_waits_for_the_running_request_and_replays_it(settings, redis_client):
    harness = Harness(settings, redis_client, in_flight_wait_s=10)
    headers = harness.auth(1, "wait")
    async with harness.client() as client:
        running = asyncio.create_task(client.post("/slow", headers=headers))
        await wait_until(lambda: harness.calls["slow"] == 1, timeout=5,
                         message="the first request to start")
        gets_before = harness.spy.gets
        waiting = asyncio.create_task(client.post("/slow", headers=headers))
        await wait_until(lambda: harness.spy.gets >= gets_before + 2, timeout=5,
                         message="the duplicate to poll")
        harness.gate.set()
        first, duplicate = await asyncio.wait_for(asyncio.gather(running, waiting), 5)
    assert first.status_code == 201
    same_answer(first, duplicate)
    assert harness.calls["slow"] == 1


async def test_the_retention_is_configurable(settings, redis_client):
    harness = Harness(settings, redis_client, ttl_s=60)
    async with harness.client() as client:
        await client.post("/items", headers=harness.auth(1, "short"), json={})
    keys = [k async for k in redis_client.scan_iter(match=f"{settings.redis_prefix}*")]
    assert len(keys) == 1
    assert 50_000 < await redis_client.pttl(keys[0]) <= 60_000


async def test_a_retried_multipart_upload_matches_whatever_boundary_it_is_sent_with(harness):
    """Every multipart client draws a new boundary for each send: the fingerprint is
    taken with the boundary fixed, so a retry replays and another file is refused."""
    alice = harness.auth(1, "upload-1")

    def upload(boundary: str, content: bytes) -> tuple[bytes, dict[str, str]]:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + \
            content + f"\r\n--{boundary}--\r\n".encode()
        return body, {**alice, "Content-Type": f"multipart/form-data; boundary={boundary}"}

    async with harness.client() as client:
        body, headers = upload("first-boundary-1111", b"JPEG the same bytes")
        first = await client.post("/items", headers=headers, content=body)
        body, headers = upload("other-boundary-2222", b"JPEG the same bytes")
        again = await client.post("/items", headers=headers, content=body)
        body, headers = upload("third-boundary-3333", b"JPEG other bytes")
        other = await client.post("/items", headers=headers, content=body)
    assert first.status_code == 201
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.content == first.content
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert harness.calls["items"] == 1
