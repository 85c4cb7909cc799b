"""Poison events written straight into the event store do not stop the real worker:
it parks them, projects every event after them, and stays healthy across a restart."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.conftest import User, position, wait_until
from tests.e2e.stack import Stack
from tests.poison import poison_events, store


def _parked(client: httpx.Client) -> dict[str, int] | None:
    health = client.get("/health")
    return health.json().get("parked") if health.status_code == 200 else None


def _post_reaches(reader: User, author: User, text: str) -> None:
    created, at = author.post(text)
    assert created["id"] in reader.home_ids(at)  # no Roost-Stale: projected in time
    listed = author.request("GET", f"/api/accounts/{author.username}/posts", at)
    assert listed.status_code == 200 and listed.headers.get("Roost-Stale") is None
    assert created["id"] in [item["id"] for item in listed.json()["items"]]


def test_the_worker_parks_poison_projects_what_follows_and_survives_a_restart(
    stack: Stack, signup: Callable[..., User], client: httpx.Client
) -> None:
    author, reader = signup("poisoned"), signup("reader")
    follow = reader.request("POST", f"/api/accounts/{author.username}/follow")
    assert reader.home_ids(position(follow)) == []
    before = _parked(client) or {}
    poisons = poison_events(int(author.id), int(reader.id))
    store(stack.settings, poisons)

    _post_reaches(reader, author, "after the poison")
    expected = {name: before.get(name, 0) + sum(name in p.parked_by for p in poisons)
                for name in ("read_models", "timelines", "notification_groups", "search_index",
                             "trends")}
    wait_until(lambda: _parked(client) == expected, timeout=60)
    metrics = client.get("/metrics").text
    assert f'roost_parked_events{{projector="read_models"}} {expected["read_models"]}.0' \
        in metrics

    stack.kill("worker")
    stack.start("worker")  # replays from its recorded position: past the poison
    stack.wait_healthy()
    _post_reaches(reader, author, "after the restart")
    health = client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["parked"] == expected  # nothing parked twice
    assert stack.processes["worker"].poll() is None, stack.tail("worker")
