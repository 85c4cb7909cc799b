"""``Roost-Stale: true`` on every answer whose ``Roost-Min-Position`` wait ran out --
also a 404 that the route raises after the wait, which an exception handler builds
afresh: "not found" and "not projected yet" must be told apart by the client (API.md:
on timeout the read answers with what it has, and ``Roost-Stale: true``).

The app runs in-process with no projector, so no read model reaches the writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from infra.settings import Settings
from tests.integration.apphost import running_app, sign_up
from tests.integration.conftest import SettingsFactory

WAIT_S = 0.2


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(min_position_wait_s=WAIT_S)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as app_client:
        yield app_client


async def test_a_404_after_a_wait_that_ran_out_is_marked_stale(
        client: httpx.AsyncClient) -> None:
    author = await sign_up(client, "author")
    made = await author.request("POST", "/api/posts", json={"text": "not projected"})
    assert made.status_code == 201, made.text
    position = made.headers["Roost-Position"]
    wait = {"Roost-Min-Position": position}
    for path in (f"/api/posts/{made.json()['id']}", f"/api/posts/{made.json()['id']}/context",
                 "/api/accounts/nobody_at_all", "/api/accounts/nobody_at_all/posts"):
        answer = await client.get(path, headers=wait)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers.get("Roost-Stale") == "true", path
        assert answer.json()["error"]["code"].endswith("not_found")
        # the same read without a wait is a plain 404: nothing carried over
        plain = await client.get(path)
        assert plain.status_code == 404 and "Roost-Stale" not in plain.headers, path
    # one header, not two, on an answer the route made itself (its wait ran out too)
    found = await author.request("GET", "/api/accounts/me", headers=wait)
    assert found.status_code == 200, found.text
    assert found.headers.get_list("Roost-Stale") == ["true"], found.headers


async def test_a_wait_that_is_met_marks_nothing(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/accounts/nobody_at_all",
                              headers={"Roost-Min-Position": "0"})
    assert answer.status_code == 404 and "Roost-Stale" not in answer.headers
