"""The Faust app: one topic of event envelopes, one agent per projector."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust
import structlog

from infra.settings import Settings
from projections.envelope import EventEnvelope
from projections.runner import ProjectionRunner

log = structlog.get_logger(__name__)

RunnerFactory = Callable[[], Awaitable[ProjectionRunner]]


def create_faust_app(settings: Settings) -> faust.App:
    """Settings from STACK.md that keep a worker responsive on the dev broker."""
    return faust.App(
        "roost-projections",
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
        consumer_auto_offset_reset="earliest",
        broker_commit_every=100,
        broker_commit_interval=1.0,
    )


def events_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    return app.topic(
        settings.kafka_topic, key_type=bytes, value_type=bytes,
        partitions=settings.kafka_partitions,
    )


def add_projection_agent(
    app: faust.App, topic: faust.TopicT, name: str, make_runner: RunnerFactory,
    catch_up_to: Callable[[], Awaitable[int]],
) -> None:
    """Register an agent that hands every event to one projector's runner.

    On start the projector first catches up with the event store, so a
    projector that was behind (or wiped) is complete before live events.
    """

    async def project(stream: faust.StreamT[Any]) -> None:
        runner = await make_runner()
        await runner.catch_up(await catch_up_to())
        async for value in stream:
            try:
                event = EventEnvelope.from_json(value)
            except (ValueError, KeyError, TypeError) as error:
                log.error("projection.undecodable", projector=name, error=repr(error))
                continue  # the gap is filled from the event store by the next event
            await runner.handle(event)

    app.agent(topic, name=f"project-{name}")(project)
