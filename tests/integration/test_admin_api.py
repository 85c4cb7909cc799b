"""The admin events API over HTTP: who may read, what a page holds, and the NDJSON
stream resuming exactly from a position (uvicorn in this process, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from commands.messages import SetAdmin
from infra import devstack
from infra.bootstrap import build_command_bus, close_command_bus
from infra.cli import app as cli_app
from infra.metrics import ADMIN_STREAMS
from infra.settings import Settings
from tests.integration.apphost import ApiUser, running_app, served_app, sign_up
from tests.integration.conftest import SettingsFactory, wait_until

SECRETS = ("password_hash", "refresh_hash", "email", "@example.com", "$argon2")


def set_admin(settings: Settings, username: str, active: bool) -> None:
    bus = build_command_bus(settings)
    try:
        bus.handle(SetAdmin(username, active, "test"))
    finally:
        close_command_bus(bus)


async def signed_up_admin(client: httpx.AsyncClient, settings: Settings) -> ApiUser:
    """The account ``op``, signed up, logged in and made an admin."""
    admin = await sign_up(client, "op")
    set_admin(settings, "op", True)
    return admin


async def all_pages(user: ApiUser, query: str = "", limit: int = 3,
                    paging: str = "after") -> list[dict[str, Any]]:
    """Every page, each next one asked for with ``paging=<next_cursor>`` (``after`` or
    its alias ``cursor``, API.md's paging parameter)."""
    items: list[dict[str, Any]] = []
    after = "0"
    for _ in range(500):
        page = await user.request("GET", f"/api/admin/events?{paging}={after}&limit={limit}"
                                  f"{query}")
        assert page.status_code == 200, page.text
        body = page.json()
        items.extend(body["items"])
        if body["next_cursor"] is None:
            return items
        after = body["next_cursor"]
    raise AssertionError("the pages never ended")


async def test_only_an_admin_token_reads_and_a_revoke_bites_at_once(settings: Settings
                                                                    ) -> None:
    async with running_app(settings) as client:
        alice = await sign_up(client, "alice")
        assert (await client.get("/api/admin/events")).status_code == 401
        refused = await alice.request("GET", "/api/admin/events")
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "not_admin"
        env = settings.as_env()
        granted = CliRunner().invoke(cli_app, ["accounts", "grant-admin", "ALICE"], env=env)
        assert granted.exit_code == 0, granted.output
        assert "alice is an admin" in granted.output
        allowed = await alice.request("GET", "/api/admin/events")
        assert allowed.status_code == 200, allowed.text
        assert "X-RateLimit-Limit" in allowed.headers  # rate-limited like other reads
        revoked = CliRunner().invoke(cli_app, ["accounts", "revoke-admin", "alice"], env=env)
        assert revoked.exit_code == 0, revoked.output
        again = await alice.request("GET", "/api/admin/events")  # the same token
        assert again.status_code == 403
        unknown = CliRunner().invoke(cli_app, ["accounts", "grant-admin", "nobody"], env=env)
        assert unknown.exit_code == 1 and "no account named" in unknown.output


BAD_QUERIES = ("after=-1", "after=abc", "after=9223372036854775808", "after=", "limit=0",
               "limit=x", "types=NoSuchType", "types=Post%20Created", "account=bad-name!",
               "account=nobody", "aggregate_id=not-a-uuid", "cursor=abc", "cursor=-1",
               "cursor=", "cursor=9223372036854775808", "cursor=djE6MTIz", "cursor=" + "9" * 201,
               "after=1&cursor=x", "cursor=-1&after=0")


async def test_bad_parameters_are_422(settings: Settings) -> None:
    async with running_app(settings) as client:
        admin = await sign_up(client, "root_op")
        set_admin(settings, "root_op", True)
        for query in BAD_QUERIES:
            for path in ("/api/admin/events", "/api/admin/events/stream"):
                if path.endswith("stream") and query.startswith("limit"):
                    continue  # a stream has no page size
                answer = await admin.request("GET", f"{path}?{query}")
                assert answer.status_code == 422, (path, query, answer.text)
                assert set(answer.json()["error"]) == {"code", "message", "details"}
        assert (await admin.request("GET", "/api/admin/events?account=nobody")
                ).json()["error"]["code"] == "reference_not_found"
        for path in ("/api/admin/events", "/api/admin/events/stream"):
            # an unreadable cursor never reads from the start: 422 as on every list
            unreadable = (await admin.request("GET", f"{path}?cursor=anything")).json()
            assert unreadable["error"]["code"] == "invalid_cursor"
            assert set(unreadable["error"]["details"]["fields"]) == {"cursor"}


async def test_pages_filter_and_never_show_secrets(settings: Settings) -> None:
    async with running_app(settings) as client:
        admin = await sign_up(client, "op")
        alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
        set_admin(settings, "op", True)
        made = await alice.request("POST", "/api/posts", json={"text": "olá", "language": "PT-br"})
        assert made.status_code == 201, made.text
        assert (await bob.request("POST", "/api/posts", json={"text": "hi"})).status_code == 201
        assert (await alice.request("POST", "/api/accounts/bob/follow")).status_code == 200
        junk = await alice.request("POST", "/api/posts", json={"text": "x", "language": "en_US"})
        assert junk.status_code == 422 and junk.json()["error"]["details"]["fields"]["language"]
        unknown = await alice.request("POST", "/api/posts", json={"text": "x", "language": "xx"})
        assert unknown.json()["error"]["code"] == "reference_not_found"
        both = await alice.request("POST", "/api/posts", json={
            "text": "x", "language": "zz", "reply_to_id": "1"})
        assert both.json()["error"]["code"] == "reference_not_found"
        assert set(both.json()["error"]["details"]["fields"]) == {"language", "reply_to_id"}

        everything = await all_pages(admin, limit=4)
        assert await all_pages(admin, limit=4, paging="cursor") == everything
        last_but_one = everything[-2]["position"]
        for query in (f"cursor={last_but_one}", f"after=0&cursor={last_but_one}"):
            page = await admin.request("GET", f"/api/admin/events?{query}")
            assert page.json()["items"] == everything[-1:], query  # the cursor goes on
        positions = [e["position"] for e in everything]
        assert positions == sorted(set(positions)) and len(positions) >= 12
        assert set(everything[0]) == {"position", "id", "type", "aggregate_id", "version",
                                      "occurred_at", "schema_version", "data"}
        text = orjson.dumps(everything).decode()
        for secret in SECRETS:
            assert secret not in text, secret
        assert {e["type"] for e in everything} >= {
            "AccountRegistered", "EmailClaimed", "SessionStarted", "AdminGranted",
            "PostCreated", "Followed"}

        posts = await all_pages(admin, "&types=PostCreated")
        assert [(p["data"]["text"], p["data"]["language"], p["schema_version"])
                for p in posts] == [("olá", "pt-BR", 3), ("hi", None, 3)]
        assert posts[0]["data"]["author_id"] == alice.id  # ids as strings

        alices = await all_pages(admin, "&account=ALICE")
        assert [e["type"] for e in alices] == ["AccountRegistered", "EmailClaimed",
                                               "SessionStarted", "PostCreated", "Followed"]
        one = await all_pages(admin, f"&aggregate_id={alices[0]['aggregate_id']}")
        assert [e["type"] for e in one] == ["AccountRegistered"]


@pytest.fixture
async def served(settings_factory: SettingsFactory) -> AsyncIterator[tuple[Settings, str]]:
    settings = settings_factory(api_port=devstack.free_port(), admin_stream_poll_s=0.05,
                                admin_stream_keepalive_s=0.2, admin_role_recheck_s=0.2)
    async with served_app(settings) as base:
        yield settings, base


class Lines:
    """The events of an NDJSON stream, keep-alives counted apart."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.keepalives = 0

    async def events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                if not line:
                    self.keepalives += 1
                    continue
                got.append(orjson.loads(line))
                if len(got) == count:
                    return got
        raise AssertionError(f"the stream ended after {got}")

    async def keepalive(self, timeout: float = 10.0) -> None:
        before = self.keepalives
        async with asyncio.timeout(timeout):
            async for line in self.lines:
                assert not line, line  # nothing was written meanwhile
                self.keepalives += 1
                if self.keepalives > before:
                    return


def open_streams() -> float:
    return float(ADMIN_STREAMS._value.get())


async def test_the_stream_resumes_exactly_from_a_position(served: tuple[Settings, str]
                                                          ) -> None:
    settings, base = served
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        admin = await signed_up_admin(client, settings)
        for n in range(5):
            made = await admin.request("POST", "/api/posts", json={"text": f"before {n}"})
            assert made.status_code == 201
        stored = await all_pages(admin, limit=100)
        headers = {"Authorization": f"Bearer {admin.token}"}

        async with client.stream("GET", "/api/admin/events/stream?after=0",
                                 headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/x-ndjson")
            first = await Lines(response).events(4)
        assert first == stored[:4]
        await wait_until(lambda: open_streams() == 0, message="the first stream freed")

        last = first[-1]["position"]
        async with client.stream("GET", f"/api/admin/events/stream?after={last}",
                                 headers=headers) as response:
            lines = Lines(response)
            rest = await lines.events(len(stored) - 4)
            assert rest == stored[4:]
            await lines.keepalive()  # idle: an empty line keeps the connection open
            live = await admin.request("POST", "/api/posts", json={"text": "live one"})
            assert live.status_code == 201
            live_events = await lines.events(1)
        assert live_events[0]["type"] == "PostCreated"
        assert live_events[0]["data"]["text"] == "live one"
        assert live_events[0]["position"] == int(live.headers["Roost-Position"])
        assert [e["position"] for e in first + rest + live_events] == sorted(
            {e["position"] for e in first + rest + live_events})
        await wait_until(lambda: open_streams() == 0, message="the second stream freed")


async def test_a_stream_filters_by_type_and_ends_when_the_role_is_revoked(
        served: tuple[Settings, str]) -> None:
    settings, base = served
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        admin = await signed_up_admin(client, settings)
        headers = {"Authorization": f"Bearer {admin.token}"}
        async with client.stream("GET", "/api/admin/events/stream?types=PostCreated",
                                 headers=headers) as response:
            lines = Lines(response)
            for text in ("one", "two"):
                assert (await admin.request("POST", "/api/posts",
                                            json={"text": text})).status_code == 201
            got = await lines.events(2)
            assert [e["data"]["text"] for e in got] == ["one", "two"]
            set_admin(settings, "op", False)
            with contextlib.suppress(httpx.RemoteProtocolError):
                async with asyncio.timeout(10):
                    async for line in lines.lines:
                        assert not line, line  # keep-alives only, then the end
        await wait_until(lambda: open_streams() == 0, message="the stream freed")


async def test_a_stream_ends_when_its_session_is_logged_out(served: tuple[Settings, str]
                                                            ) -> None:
    settings, base = served
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        admin = await signed_up_admin(client, settings)
        headers = {"Authorization": f"Bearer {admin.token}"}
        async with client.stream("GET", "/api/admin/events/stream", headers=headers
                                 ) as response:
            lines = Lines(response)
            assert (await lines.events(1))[0]["type"] == "AccountRegistered"
            assert (await admin.request("DELETE", "/api/sessions/current")).status_code == 204
            with contextlib.suppress(httpx.RemoteProtocolError):
                async with asyncio.timeout(10):
                    async for _line in lines.lines:
                        pass  # the rest of the log, then the end
        await wait_until(lambda: open_streams() == 0, message="the stream freed")
