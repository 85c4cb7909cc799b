"""The search routes in-process: errors in the API's format, and an Elasticsearch that
does not answer is 503 for search and a failing check in /health (never a 500), while
tag timelines (PostgreSQL) go on."""

from __future__ import annotations

import pytest

from infra import devstack
from infra.settings import Settings
from tests.integration.apphost import running_app
from tests.integration.conftest import SettingsFactory


@pytest.fixture
def no_search(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(elasticsearch_url=f"http://127.0.0.1:{devstack.free_port()}",
                            elasticsearch_request_timeout_s=1.0)


async def test_search_answers_503_while_the_index_is_down(no_search: Settings) -> None:
    async with running_app(no_search) as client:
        for path in ("/api/search?q=hello", "/api/search?q=ali&type=accounts"):
            answer = await client.get(path)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "service_unavailable"
            assert answer.headers["Retry-After"] == "1"
        tagged = await client.get("/api/timelines/tag/news")  # from PostgreSQL: unaffected
        assert tagged.status_code == 200 and tagged.json()["items"] == []
        health = await client.get("/health")
        assert health.status_code == 503
        body = health.json()
        assert "elasticsearch" in body["failing"]
        assert body["checks"]["search_index"].startswith("unknown: position unreadable")


async def test_bad_requests_are_422_and_queries_never_fail(settings: Settings) -> None:
    async with running_app(settings) as client:
        for params, field in (({}, "q"), ({"q": ""}, "q"), ({"q": "x" * 501}, "q"),
                              ({"q": "x", "type": "people"}, "type"),
                              ({"q": "x", "cursor": "bogus"}, "cursor"),
                              ({"q": "x", "limit": "0"}, "limit")):
            answer = await client.get("/api/search", params=params)
            assert answer.status_code == 422, (params, answer.text)
            assert field in answer.json()["error"]["details"]["fields"], answer.text
        for q in ('"', "from:", "before:2026-99-99", "#", "\\", "*:*", "a OR b AND (c",
                  '{"match_all": {}}', "é" * 500, "#" + "x" * 200):
            answer = await client.get("/api/search", params={"q": q})
            assert answer.status_code == 200, (q, answer.text)
            assert answer.json() == {"items": [], "next_cursor": None}
        for length in (150, 300, 20_000):  # no tag is over 100: an empty page, never a 404
            answer = await client.get("/api/timelines/tag/" + "x" * length)
            assert answer.status_code == 200 and answer.json()["items"] == [], length


async def test_a_hung_index_costs_health_only_the_search_position(
        settings_factory: SettingsFactory) -> None:
    """An Elasticsearch that accepts connections and never answers (hung, not down):
    /health still reads every other projection's position within its time."""
    import asyncio

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_factory(elasticsearch_url=f"http://127.0.0.1:{port}",
                                elasticsearch_request_timeout_s=5.0)
    try:
        async with running_app(settings) as client:
            body = (await client.get("/health")).json()
            assert body["checks"]["search_index"].startswith("unknown: position unreadable")
            assert set(body["positions"]) >= {"event_store", "read_models", "timelines",
                                              "notification_groups", "trends"}
            for part in ("read_models", "timelines", "notification_groups", "trends"):
                assert not body["checks"][part].startswith("unknown"), body["checks"]
    finally:
        server.close()
