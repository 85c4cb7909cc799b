"""Killing the worker or the relay mid-stream loses nothing and duplicates nothing."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import User, position
from tests.e2e.stack import Stack

POSTS = 120


def _post_many(author: User, count: int) -> list[tuple[str, int]]:
    def one(n: int) -> tuple[str, int]:
        response = author.request("POST", "/api/posts", json={"text": f"burst {n}"})
        assert response.status_code == 201, response.text
        return response.json()["id"], position(response)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.parametrize("victim", ["worker", "relay"])
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    victim: str, stack: Stack, signup: Callable[..., User], client: httpx.Client
) -> None:
    author, reader = signup("burst"), signup("reader")
    follow = reader.request("POST", f"/api/accounts/{author.username}/follow")
    assert reader.home_ids(position(follow)) == []

    first = _post_many(author, POSTS // 2)
    stack.kill(victim)  # while the pipeline is still working through the burst
    second = _post_many(author, POSTS // 2)
    stack.start(victim)
    stack.wait_healthy()

    created = first + second
    last = max(pos for _, pos in created)
    expected = sorted((post_id for post_id, _ in created), key=int, reverse=True)
    timeline = reader.home_ids(last)
    assert timeline == expected  # every post once, newest first
    profile = client.get(f"/api/accounts/{author.username}",
                         headers={"Roost-Min-Position": str(last)}).json()
    assert profile["posts_count"] == POSTS
    listed: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/api/accounts/{author.username}/posts", params=params).json()
        listed += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert listed == expected
