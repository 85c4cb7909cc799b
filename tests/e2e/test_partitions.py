"""A stack whose event topic has 4 partitions (``ROOST_KAFKA_PARTITIONS=4``): the relay
puts each aggregate's events on the partition ``infra.kafka.partition_for`` names, the
worker consumes all four, and every projection ends exactly as with one partition:
nothing lost, nothing applied twice, read-your-writes exact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from aiokafka.structs import ConsumerRecord

from infra.eventlog import read_envelopes
from infra.kafka import partition_for
from ports.events import EventEnvelope
from tests.e2e.conftest import (
    User,
    position,
    running_stack,
    stack_settings,
    store_position,
    unique_name,
    wait_until,
)
from tests.e2e.stack import Stack
from tests.integration.test_relay import read_topic

PARTITIONS = 4


@pytest.fixture(scope="module")
def stack(noida: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_settings(**noida, kafka_partitions=PARTITIONS)
    with running_stack(settings, tmp_path_factory.mktemp("logs-partitions")) as running:
        yield running


def stored_events(stack: Stack) -> list[EventEnvelope]:
    async def read() -> list[EventEnvelope]:
        conn = await psycopg.AsyncConnection.connect(stack.settings.postgres_conninfo,
                                                     autocommit=True)
        async with conn:
            return await read_envelopes(conn, 0, limit=100_000)

    return asyncio.run(read())


def relay_position(stack: Stack) -> int:
    with psycopg.connect(stack.settings.postgres_conninfo) as conn:
        row = conn.execute("SELECT position FROM relay_positions WHERE name = 'kafka'")\
            .fetchone()
    return int(row[0]) if row else 0


def topic_records(stack: Stack) -> list[ConsumerRecord[Any, Any]]:
    return asyncio.run(read_topic(stack.settings, timeout=30))


def test_concurrent_writers_on_four_partitions_project_exactly_once(
    signup: Callable[..., User], stack: Stack,
) -> None:
    word = unique_name("partitioned")
    authors = [signup("author") for _ in range(4)]
    readers = [signup("reader") for _ in range(3)]
    for reader in readers:
        reader.home()  # active readers: their timelines are kept (pushed to)
        for author in authors:
            reader.follow(author)

    def write(author: User) -> list[tuple[str, int]]:
        made = []
        for n in range(5):
            post, at = author.post(f"{word} {n} from @{readers[0].username} #{word}")
            made.append((post["id"], at))
        return made

    # the four authors write at once: their events interleave in the log, and land
    # on (up to) four partitions that the worker fetches in whatever order
    with ThreadPoolExecutor(len(authors)) as pool:
        by_author = list(pool.map(write, authors))
    written = [p for made in by_author for p in made]
    liked = by_author[0][0][0]
    for reader in readers:
        reader.act("POST", f"/api/posts/{liked}/like")
    deleted = by_author[1][0][0]
    last = position(authors[1].act("DELETE", f"/api/posts/{deleted}", expect=204))

    expected = sorted((pid for pid, _ in written if pid != deleted), key=int, reverse=True)
    for reader in readers:
        ids = reader.home_ids(last)
        assert ids == expected  # every post once, in order, the deleted one gone
    post = readers[0].act("GET", f"/api/posts/{liked}", headers={
        "Roost-Min-Position": str(last)}).json()
    assert post["likes_count"] == len(readers) and post["liked"] is True
    found = readers[0].act("GET", "/api/search", params={"q": word, "limit": 100},
                           headers={"Roost-Min-Position": str(last)}).json()
    assert sorted((p["id"] for p in found["items"]), key=int, reverse=True) == expected
    mentions = readers[0].act("GET", "/api/notifications", params={"types": "mention",
                                                                   "limit": 100},
                              headers={"Roost-Min-Position": str(last)}).json()
    assert len({g["post"]["id"] for g in mentions["items"]}) == len(expected)
    likes = authors[0].act("GET", "/api/notifications", params={"types": "like"},
                           headers={"Roost-Min-Position": str(last)}).json()
    assert [g["accounts_count"] for g in likes["items"]] == [len(readers)]


def test_each_aggregate_is_on_its_partition_and_every_event_once(stack: Stack,
                                                                 signup: Callable[..., User]
                                                                 ) -> None:
    for _ in range(8):  # a dozen aggregates each (account, email, session, post, ...)
        signup("spread").post("one more aggregate")
    head = store_position(stack)
    wait_until(lambda: relay_position(stack) >= head, timeout=30,
               failure=lambda: f"the relay at {relay_position(stack)}, the store at {head}")
    events = stored_events(stack)
    records = [r for r in topic_records(stack) if r.value is not None]
    published = [EventEnvelope.from_json(r.value) for r in records]
    assert sorted(e.position for e in published) == [e.position for e in events]  # once each
    assert {r.partition for r in records} == set(range(PARTITIONS))
    for record, event in zip(records, published, strict=True):
        assert record.partition == partition_for(event.aggregate_id.encode(), PARTITIONS)
    for partition in range(PARTITIONS):
        mine = [e.position for r, e in zip(records, published, strict=True)
                if r.partition == partition]
        assert mine == sorted(mine)  # each partition in the log's order
