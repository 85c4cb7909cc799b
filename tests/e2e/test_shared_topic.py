"""Two event stores on one broker and topic (a second `roost up` on the same
machine reuses the running dev broker) must not mix: the worker applies only
the messages its own store's relay stamped, and /health never calls a
projector that ran ahead of its store healthy."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable

import httpx
import psycopg

from infra.eventlog import STORE_HEADER, read_envelopes
from infra.kafka import make_producer
from ports.events import EventEnvelope
from tests.e2e.conftest import User, wait_until
from tests.e2e.stack import Stack


def _head_and_last(stack: Stack) -> tuple[int, EventEnvelope]:
    async def read() -> tuple[int, EventEnvelope]:
        conn = await psycopg.AsyncConnection.connect(stack.settings.postgres_conninfo,
                                                     autocommit=True)
        async with conn:
            cur = await conn.execute("SELECT MAX(notification_id) FROM roost_events")
            row = await cur.fetchone()
            head = int(row[0]) if row and row[0] else 0
            [last] = await read_envelopes(conn, head - 1, head)
        return head, last

    return asyncio.run(read())


def _publish_foreign(stack: Stack, copies: list[EventEnvelope]) -> None:
    """What another store's relay would publish on the same topic."""
    async def send() -> None:
        producer = make_producer(stack.settings)
        await producer.start()
        try:
            for envelope in copies:
                await producer.send_and_wait(
                    stack.settings.kafka_topic, envelope.to_json(),
                    key=envelope.aggregate_id.encode(),
                    headers=[(STORE_HEADER, str(uuid.uuid4()).encode())])
        finally:
            await producer.stop()

    asyncio.run(send())


def test_another_stores_events_on_the_topic_are_not_applied(
    stack: Stack, client: httpx.Client, signup: Callable[..., User]
) -> None:
    author = signup("own")
    before, at = author.post("mine before")
    assert author.request("GET", f"/api/posts/{before['id']}", at).status_code == 200
    head, last = _head_and_last(stack)
    # The next positions, as another store numbered its own events.
    foreign = [dataclasses.replace(last, position=head + n, event_id=str(uuid.uuid4()),
                                   aggregate_id=str(uuid.uuid4()))
               for n in range(1, 6)]
    _publish_foreign(stack, foreign)
    log = stack.log_dir / "worker.log"
    wait_until(lambda: "projection.foreign_events" in log.read_text(errors="replace"),
               timeout=20)

    mine = [author.post(f"mine after {n}") for n in range(3)]
    for post, at in mine:
        response = author.request("GET", f"/api/posts/{post['id']}", at)
        assert response.status_code == 200, response.text
        assert response.headers.get("Roost-Stale") is None
    health = client.get("/health")
    assert health.status_code == 200, health.text
