"""A write's answer comes from its own result, whatever the read models say.

The app runs in-process with no projector: the read models never see these
writes, as when the worker is stopped. Every write that appended must still
answer 2xx with ``Roost-Position``; an undo the reader may no longer see is
204. A read whose ``Roost-Min-Position`` wait runs out carries ``Roost-Stale: true``,
also when it is an error the route raises next (a 404 for what is not projected yet):
"not found" and "not projected yet" must be told apart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from infra.settings import Settings
from tests.integration.apphost import ApiUser, running_app, sign_up
from tests.integration.conftest import SettingsFactory, store_max_position

WAIT_S = 0.3


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(min_position_wait_s=WAIT_S)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as app_client:
        yield app_client


async def _author_fan_post(client: httpx.AsyncClient, text: str
                           ) -> tuple[ApiUser, ApiUser, dict[str, Any]]:
    author, fan = await sign_up(client, "author"), await sign_up(client, "fan")
    return author, fan, await _post(author, text)


async def _post(user: ApiUser, text: str) -> dict[str, Any]:
    made = await user.request("POST", "/api/posts", json={"text": text})
    assert made.status_code == 201, made.text
    return dict(made.json())


def _position(response: httpx.Response) -> int:
    return int(response.headers["Roost-Position"])


async def test_like_and_repost_answer_the_post_while_read_models_lag(
        settings: Settings, client: httpx.AsyncClient) -> None:
    _, fan, post = await _author_fan_post(client, "hello #roost @fan")
    assert post["author"]["username"] == "author"
    for action, flag in (("like", "liked"), ("repost", "reposted")):
        started = time.monotonic()
        done = await fan.request("POST", f"/api/posts/{post['id']}/{action}")
        assert done.status_code == 200, done.text
        assert time.monotonic() - started < WAIT_S + 2  # a bounded wait, then the answer
        body = done.json()
        assert (body["id"], body[flag], body["text"]) == (post["id"], True, "hello #roost @fan")
        assert body["author"]["username"] == "author"
        assert body["hashtags"] == ["roost"] and body["mentions"] == ["fan"]
        assert _position(done) == store_max_position(settings)
        assert done.headers["Roost-Stale"] == "true"
        undone = await fan.request("DELETE", f"/api/posts/{post['id']}/{action}")
        assert undone.status_code == 200, undone.text
        assert undone.json()[flag] is False
        assert _position(undone) == store_max_position(settings)


async def test_a_like_with_an_idempotency_key_is_stored_as_the_success(
        settings: Settings, client: httpx.AsyncClient) -> None:
    _, fan, post = await _author_fan_post(client, "like me")
    key = {"Idempotency-Key": "like-1"}
    first = await fan.request("POST", f"/api/posts/{post['id']}/like", headers=key)
    again = await fan.request("POST", f"/api/posts/{post['id']}/like", headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() and again.json()["liked"] is True
    assert _position(again) == _position(first)


async def test_undoing_after_the_author_blocks_answers_204_with_a_position(
        settings: Settings, client: httpx.AsyncClient) -> None:
    author, fan, post = await _author_fan_post(client, "soon hidden")
    for action in ("like", "repost"):
        assert (await fan.request("POST", f"/api/posts/{post['id']}/{action}")
                ).status_code == 200
    blocked = await author.request("POST", "/api/accounts/fan/block")
    assert blocked.status_code == 200
    for action in ("like", "repost"):
        before = store_max_position(settings)
        undone = await fan.request("DELETE", f"/api/posts/{post['id']}/{action}")
        assert undone.status_code == 204, undone.text
        assert undone.content == b""
        assert _position(undone) == store_max_position(settings) > before  # applied
        again = await fan.request("DELETE", f"/api/posts/{post['id']}/{action}")
        assert again.status_code == 204 and _position(again) == _position(undone)
        refused = await fan.request("POST", f"/api/posts/{post['id']}/{action}")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "blocked"


async def test_undoing_a_like_on_a_deleted_post_succeeds_if_the_like_exists(
        settings: Settings, client: httpx.AsyncClient) -> None:
    author, fan, other = (await sign_up(client, "author"), await sign_up(client, "fan"),
                          await sign_up(client, "other"))
    post = await _post(author, "going away")
    assert (await fan.request("POST", f"/api/posts/{post['id']}/like")).status_code == 200
    assert (await author.request("DELETE", f"/api/posts/{post['id']}")).status_code == 204
    undone = await fan.request("DELETE", f"/api/posts/{post['id']}/like")
    assert undone.status_code == 204 and _position(undone) == store_max_position(settings)
    assert (await fan.request("DELETE", f"/api/posts/{post['id']}/like")).status_code == 204
    never = await other.request("DELETE", f"/api/posts/{post['id']}/like")
    assert never.status_code == 404
    assert (await fan.request("POST", f"/api/posts/{post['id']}/like")).status_code == 404


async def test_graph_undos_succeed_when_the_other_now_blocks_you(
        settings: Settings, client: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(client, "alice"), await sign_up(client, "bob")
    for path in ("follow", "mute", "block"):  # the block ends the follow
        assert (await bob.request("POST", f"/api/accounts/alice/{path}")).status_code == 200
    assert (await alice.request("POST", "/api/accounts/bob/block")).status_code == 200
    for path in ("follow", "mute", "block"):
        undone = await bob.request("DELETE", f"/api/accounts/alice/{path}")
        assert undone.status_code == 200, (path, undone.text)
        assert undone.json()["blocked_by"] is True
        assert _position(undone) > 0


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


async def test_own_account_is_read_by_both_claims_of_the_token(
        client: httpx.AsyncClient, settings: Settings) -> None:
    """A token naming one account's id and another's username (only a leaked signing
    key makes one) reads and changes neither's profile."""
    from infra.security import JwtTokens

    mine, theirs = await sign_up(client, "claims_mine"), await sign_up(client, "claims_theirs")
    mixed = JwtTokens(settings).access_token(int(mine.id), theirs.username, uuid.uuid4().hex)
    answer = await client.get("/api/accounts/me", headers={"Authorization": f"Bearer {mixed}"})
    assert answer.status_code == 404, answer.text
    assert "claims_theirs@example.com" not in answer.text
    changed = await client.patch("/api/accounts/me", json={"bio": "not theirs"},
                                 headers={"Authorization": f"Bearer {mixed}"})
    assert changed.status_code == 404, changed.text
    assert (await theirs.request("GET", "/api/accounts/me")).json()["bio"] == ""
    assert (await mine.request("GET", "/api/accounts/me")).json()["username"] == "claims_mine"
