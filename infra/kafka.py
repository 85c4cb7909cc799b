"""Kafka plumbing: topic creation, the relay's producer, the consumers' fetch pause."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.errors import TopicAlreadyExistsError

from infra.settings import Settings


async def ensure_topic(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = await admin.list_topics()
        if settings.kafka_topic not in existing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(settings.kafka_topic, settings.kafka_partitions, 1)]
                )
    finally:
        await admin.close()


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """Idempotent, acks from all replicas, small linger so batches form under load."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


_original_proc_fetch = Fetcher._proc_fetch_request
_pause_s = 0.0


async def _proc_fetch_pausing_when_empty(self: Fetcher, *args: Any, **kwargs: Any) -> Any:
    started = time.monotonic()
    got_something = await _original_proc_fetch(self, *args, **kwargs)
    waited_ms = (time.monotonic() - started) * 1000
    if _pause_s and not got_something and waited_ms < self._fetch_max_wait_ms / 2:
        try:
            await asyncio.sleep(_pause_s)  # the broker did not wait: wait here instead
        except asyncio.CancelledError:
            return False  # as aiokafka's own fetch does: close() awaits it after cancel()
    return got_something


def pause_empty_fetches(pause_s: float) -> None:
    """Make consumers wait ``pause_s`` after an empty fetch the broker answered at once.

    A Kafka broker holds an empty fetch for up to ``fetch_max_wait_ms`` (long
    poll), so an idle consumer sends a couple of requests a second. noida-db
    answers at once, and aiokafka's fetch loop then spins: ~3,000 fetches/s,
    most of a core per idle worker (STACK.md's broker, measured in
    docs/performance.md). The pause applies only to an empty answer that came
    back in under half the wait asked for, which a real broker never sends,
    so it changes nothing there. ``0`` turns it off. Process-wide: aiokafka
    has no per-consumer hook for this.
    """
    global _pause_s
    _pause_s = max(0.0, pause_s)
    Fetcher._proc_fetch_request = _proc_fetch_pausing_when_empty
