"""The admin events API's reads over the fake event reader: the ``Event`` shape, pages,
and the NDJSON follower (catch-up, live events, keep-alives, the role re-check),
driven by a fake clock so that nothing sleeps."""

from __future__ import annotations

from typing import Any

import orjson

from ports.event_reader import EventFilter
from ports.events import EventEnvelope
from queries.admin_events import KEEPALIVE, api_data, event, events_page, follow_events
from tests.fakes.event_reader import MemoryEventReader


def envelope(position: int, type_: str = "PostCreated", **payload: Any) -> EventEnvelope:
    return EventEnvelope(position=position, event_id=f"e{position}", type=type_,
                         aggregate_id=f"a{position}", aggregate_version=1,
                         occurred_at="2026-11-30T10:00:00.000Z", schema_version=2,
                         payload={"post_id": position, **payload})


def test_ids_are_strings_and_nothing_else_changes() -> None:
    assert api_data({"post_id": 2**62, "ids": [1, 2], "up_to_id": None, "text": "7",
                     "count": 3, "flag_id": True, "hashtags": ["a"]}) == {
        "post_id": str(2**62), "ids": ["1", "2"], "up_to_id": None, "text": "7",
        "count": 3, "flag_id": True, "hashtags": ["a"]}
    assert list(event(envelope(5))) == ["position", "id", "type", "aggregate_id", "version",
                                        "occurred_at", "schema_version", "data"]


async def test_a_page_carries_the_position_to_go_on_from() -> None:
    reader = MemoryEventReader([envelope(p) for p in (2, 4, 9)])
    first = await events_page(reader, EventFilter(), 2)
    assert [e["position"] for e in first["items"]] == [2, 4]
    assert first["next_cursor"] == "4"
    last = await events_page(reader, EventFilter(after=4), 2)
    assert [e["position"] for e in last["items"]] == [9] and last["next_cursor"] is None


async def test_an_account_filter_examines_a_bounded_number_of_positions() -> None:
    reader = MemoryEventReader([envelope(p, author_id=7 if p in (2, 6) else 8)
                                for p in range(1, 9)])
    wanted = EventFilter(account_id=7)
    first = await events_page(reader, wanted, 2, scan=3)
    # Positions 1-3 hold one of the account's events; the page ends short where it stopped.
    assert [e["position"] for e in first["items"]] == [2] and first["next_cursor"] == "3"
    second = await events_page(reader, EventFilter(account_id=7, after=3), 2, scan=3)
    assert [e["position"] for e in second["items"]] == [6] and second["next_cursor"] == "6"
    last = await events_page(reader, EventFilter(account_id=7, after=6), 2, scan=3)
    assert last["items"] == [] and last["next_cursor"] is None


class Clock:
    """A clock that only moves when the follower sleeps; a hook runs at each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep: list[Any] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        for hook in self.on_sleep:
            hook(self)


async def test_the_follower_catches_up_then_follows_live_events_with_keepalives() -> None:
    reader = MemoryEventReader([envelope(p) for p in range(1, 8)])
    clock = Clock()
    allowed = True

    async def still_allowed() -> bool:
        return allowed

    def add_live(c: Clock) -> None:
        if c.sleeps == 3:
            reader.append(envelope(20, text="live"))

    clock.on_sleep.append(add_live)
    follower = follow_events(reader, EventFilter(after=2), poll_s=0.5, keepalive_s=1.0,
                             still_allowed=still_allowed, recheck_s=100.0,
                             sleep=clock.sleep, clock=clock)
    chunks = []
    async for chunk in follower:
        chunks.append(chunk)
        if b'"position":20' in chunk:
            break
    await follower.aclose()
    lines = b"".join(chunks).split(b"\n")
    events = [orjson.loads(line) for line in lines if line]
    assert [e["position"] for e in events] == [3, 4, 5, 6, 7, 20]
    assert KEEPALIVE in chunks  # 1.5 s idle before the live one: one keep-alive


async def test_the_follower_ends_once_the_role_is_gone() -> None:
    reader = MemoryEventReader([envelope(1)])
    clock = Clock()
    checks = []

    async def still_allowed() -> bool:
        checks.append(clock.now)
        return clock.now < 3

    got = [chunk async for chunk in follow_events(
        reader, EventFilter(), poll_s=0.5, keepalive_s=10.0, still_allowed=still_allowed,
        recheck_s=1.0, sleep=clock.sleep, clock=clock)]
    assert orjson.loads(got[0])["position"] == 1
    assert checks and checks[-1] >= 3 and clock.now < 5  # ended soon after the revoke


async def test_the_follower_reads_on_without_waiting_while_events_are_waiting() -> None:
    reader = MemoryEventReader([envelope(p) for p in range(1, 1201)])
    clock = Clock()

    async def yes() -> bool:
        return True

    follower = follow_events(reader, EventFilter(types=frozenset({"PostCreated"})),
                             poll_s=0.5, keepalive_s=10.0, still_allowed=yes, recheck_s=10.0,
                             sleep=clock.sleep, clock=clock)
    seen = 0
    async for chunk in follower:
        seen += chunk.count(b"\n")
        if seen >= 1200:
            break
    await follower.aclose()
    assert seen == 1200 and clock.sleeps == 0  # three batches of 500, 500, 200, no wait
