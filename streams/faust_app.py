"""The Faust app: one topic of event envelopes, one agent per projector."""

from __future__ import annotations

import functools
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust
import structlog

from infra.eventlog import STORE_HEADER
from infra.resilience import Guard
from infra.settings import Settings
from ports.events import EventEnvelope
from projections.runner import ProjectionRunner
from streams.liveness import Liveness

log = structlog.get_logger(__name__)

RunnerFactory = Callable[[], Awaitable[ProjectionRunner]]
TAKE_MAX = 500
TAKE_WITHIN_S = 0.005


def consumer_group(settings: Settings) -> str:
    if settings.consumer_group_per_process:
        return f"{settings.worker_group}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return settings.worker_group


def create_faust_app(settings: Settings) -> faust.App:
    """Settings from STACK.md that keep a worker responsive on the dev broker."""
    per_process = settings.consumer_group_per_process
    group = consumer_group(settings)
    datadir = Path(tempfile.gettempdir()) / "roost-faust" / group  # unused: memory store
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return faust.App(
        group,
        datadir=str(datadir),
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        broker_session_timeout=6,
        broker_heartbeat_interval=0.5,
        broker_rebalance_timeout=6,
        stream_wait_empty=False,
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=1,
        # A fresh per-process group starts at the end of the topic: whatever it
        # missed is read from the event store by the start-up catch-up and sweeps.
        consumer_auto_offset_reset="latest" if per_process else "earliest",
        broker_commit_every=100,
        broker_commit_interval=1.0,
    )


def events_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    return app.topic(
        settings.kafka_topic, key_type=bytes, value_type=bytes,
        partitions=settings.kafka_partitions,
    )


def add_projection_agent(
    app: faust.App, topic: faust.TopicT, name: str, get_runner: RunnerFactory,
    store_position: Callable[[], Awaitable[int]], sweep_interval_s: float,
    liveness: Liveness, own_store: Callable[[], Awaitable[str]],
) -> None:
    """Register an agent that hands every event to one projector's runner, and a
    timer that sweeps the event store for anything the stream did not deliver.

    The sweep makes the projector independent of Kafka's bookkeeping: events
    published while no worker was subscribed, or lost, are applied within one
    interval, and the agent's own gap check fills holes as soon as a later
    event arrives.

    Neither ever raises (but for cancellation, at a stop): the agent's body is a
    supervised loop. A failure (PostgreSQL or Redis gone, a parking that failed)
    is logged and retried after a bounded exponential backoff; the runner has not
    moved past anything it neither applied nor parked, so the retry resumes from
    the recorded position. Each success beats ``liveness`` for ``name``.

    Only messages stamped with this event store's identity (``own_store``, the
    ``roost-store`` header the relay sets) are applied: another store's events on
    a shared topic, or an old topic's, would otherwise be taken for this store's
    at the same positions. What is dropped is read from the event store.
    """
    agent_guard = Guard(f"project-{name}")
    sweep_guard = Guard(f"sweep-{name}")

    async def catch_up() -> None:
        runner = await get_runner()
        await runner.catch_up(await store_position())
        liveness.beat(name)

    async def deliver(events: list[EventEnvelope]) -> None:
        runner = await get_runner()
        await runner.handle_batch(events)
        liveness.beat(name)

    async def project(stream: faust.StreamT[Any]) -> None:
        await agent_guard.until_done(catch_up)
        store = await agent_guard.until_done(own_store)
        # What has arrived, in batches of up to TAKE_MAX (one transaction each).
        # take_events is on faust's Stream, not on the StreamT protocol it types.
        batches = stream.take_events(TAKE_MAX, within=TAKE_WITHIN_S)  # type: ignore[attr-defined]
        async for batch in batches:
            events = decode(name, ours(name, store, batch))
            if events:
                await agent_guard.until_done(functools.partial(deliver, events))

    async def sweep() -> None:
        await sweep_guard.once(catch_up)

    app.agent(topic, name=f"project-{name}")(project)
    app.timer(sweep_interval_s, name=f"sweep-{name}")(sweep)


def ours(name: str, store: str, batch: Sequence[faust.EventT[Any]]) -> list[Any]:
    """The values of the messages in ``batch`` that this event store published;
    the others are counted in one log line and left out."""
    own = store.encode()
    values: list[Any] = []
    foreign: list[bytes | None] = []
    for event in batch:
        stamp = event.headers.get(STORE_HEADER)
        if stamp == own:
            values.append(event.value)
        else:
            foreign.append(stamp)
    if foreign:
        log.error("projection.foreign_events", projector=name, dropped=len(foreign),
                  stores=sorted({repr(s) for s in foreign})[:5], own_store=store)
    return values


def decode(name: str, values: list[Any]) -> list[EventEnvelope]:
    """The envelopes among ``values``; an undecodable message is logged and left out
    (the runner reads the hole it leaves from the event store)."""
    events = []
    for value in values:
        try:
            events.append(EventEnvelope.from_json(value))
        except (ValueError, KeyError, TypeError) as error:
            log.error("projection.undecodable", projector=name, error=repr(error)[:500])
    return events
