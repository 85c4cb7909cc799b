"""Search, account search and tag timelines through the running stack: API, relay,
worker (the search projector on noida-db's Elasticsearch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import User, assert_error, position, unique_name
from tests.e2e.stack import Stack


def _get(user: User, path: str, at: int, **params: Any) -> dict[str, Any]:
    answer = user.request("GET", path, at, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("Roost-Stale") is None
    body: dict[str, Any] = answer.json()
    return body


def _all(user: User, path: str, at: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = _get(user, path, at, **params, **({"cursor": cursor} if cursor else {}))
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_a_post_is_found_by_each_query_form_once_written(
    stack: Stack, signup: Callable[..., User],
) -> None:
    word = unique_name("w")  # a word no other test writes
    author, reader = signup("author"), signup("reader")
    created, at = author.post(f"Searching for {word} in the Café #E2E{word[-4:]}")
    tag = f"e2e{word[-4:]}"
    for q in (word, f"{word} cafe", f'"for {word}"', f"#{tag.upper()}",
              f"{word} from:{author.username}", f"#{tag} after:2026-01-01"):
        found = _get(reader, "/api/search", at, q=q)["items"]
        assert [p["id"] for p in found] == [created["id"]], q
        assert found[0]["author"]["username"] == author.username
    assert _get(reader, "/api/search", at, q=f"{word} from:{reader.username}")["items"] == []
    tagged = _get(reader, f"/api/timelines/tag/{tag.upper()}", at)
    assert [p["id"] for p in tagged["items"]] == [created["id"]]

    deleted = author.act("DELETE", f"/api/posts/{created['id']}", expect=204)
    gone = position(deleted)
    assert _get(reader, "/api/search", gone, q=word)["items"] == []
    assert _get(reader, f"/api/timelines/tag/{tag}", gone)["items"] == []


def test_pages_blocks_and_accounts_through_the_api(
    stack: Stack, signup: Callable[..., User], client: httpx.Client,
) -> None:
    tag = unique_name("t")
    author, blocked, reader = signup("pager"), signup("blockd"), signup("reader")
    ids = []
    at = 0
    for i in range(25):
        created, at = author.post(f"page item {i} #{tag}")
        ids.append(created["id"])
    _, at = blocked.post(f"from a blocked account #{tag}")
    at = max(at, position(reader.act("POST", f"/api/accounts/{blocked.username}/block")))

    listed = _all(reader, f"/api/timelines/tag/{tag}", at, limit=7)
    assert [p["id"] for p in listed] == list(reversed(ids))  # exact, newest first
    searched = _all(reader, "/api/search", at, q=f"#{tag}", limit=4)
    assert sorted(p["id"] for p in searched) == sorted(ids)
    assert len({p["id"] for p in searched}) == 25
    assert len(_all(author, "/api/search", at, q=f"#{tag}")) == 26  # the author blocks no one

    renamed = author.act("PATCH", "/api/accounts/me", json={"display_name": f"Zed {tag}"})
    accounts = _get(reader, "/api/search", position(renamed), q=f"zed {tag}",
                    type="accounts")["items"]
    assert [a["username"] for a in accounts] == [author.username]
    exact = _get(reader, "/api/search", at, q=author.username, type="accounts")["items"]
    assert exact[0]["username"] == author.username

    health = client.get("/health").json()
    assert health["checks"]["search_index"] == "ok"
    assert health["checks"]["elasticsearch"] == "ok"
    assert health["positions"]["search_index"] >= at
    metrics = client.get("/metrics").text
    assert 'roost_projection_lag_events{projector="search_index"}' in metrics


def test_search_errors_use_the_error_format(stack: Stack, client: httpx.Client) -> None:
    assert_error(client.get("/api/search"), 422, field="q")
    assert_error(client.get("/api/search", params={"q": "x", "cursor": "nope"}), 422,
                 "invalid_cursor", field="cursor")
    assert_error(client.get("/api/search", params={"q": "x", "type": "tags"}), 422,
                 field="type")
    assert client.get("/api/search", params={"q": '"from: #'}).status_code == 200
