"""The consumers' empty-fetch pause, against noida-db (which answers empty fetches at once)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher

from infra.kafka_fetch_patch import ORIGINAL_PROC_FETCH, pause_empty_fetches
from tests.integration.conftest import wait_until

PAUSE_S = 0.05


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Times of the fetch requests consumers send, with the pause installed (undone after:
    the patch is process-wide, so the library's attribute is restored)."""
    sent: list[float] = []

    async def counting(self: Fetcher, *args: Any, **kwargs: Any) -> Any:
        sent.append(time.monotonic())
        return await ORIGINAL_PROC_FETCH(self, *args, **kwargs)

    monkeypatch.setattr(Fetcher, "_proc_fetch_request", Fetcher._proc_fetch_request)
    pause_empty_fetches(PAUSE_S, fetch=counting)
    return sent


@pytest.fixture
async def consumer(noida: dict[str, str]) -> AsyncIterator[AIOKafkaConsumer]:
    topic = f"roost.test.fetch.{uuid.uuid4().hex[:10]}"
    producer = AIOKafkaProducer(bootstrap_servers=noida["kafka_bootstrap"])
    await producer.start()
    await producer.send_and_wait(topic, b"before")  # creates the topic
    await producer.stop()
    subscribed = AIOKafkaConsumer(topic, bootstrap_servers=noida["kafka_bootstrap"],
                                  group_id=f"fetch-{uuid.uuid4().hex[:8]}",
                                  auto_offset_reset="latest", fetch_max_wait_ms=1500)
    await subscribed.start()
    yield subscribed
    await subscribed.stop()


async def test_an_idle_consumer_pauses_between_empty_fetches(
        fetches: list[float], consumer: AIOKafkaConsumer) -> None:
    await wait_until(lambda: len(fetches) >= 12, timeout=30.0, message="12 fetches")
    gaps = [later - earlier for earlier, later in itertools.pairwise(fetches[1:])]
    # Unpaused, noida-db answers in ~0.3 ms and the loop sends thousands a second.
    assert min(gaps[:10]) >= PAUSE_S * 0.9, gaps


async def test_a_record_still_arrives_while_the_consumer_pauses(
        fetches: list[float], consumer: AIOKafkaConsumer, noida: dict[str, str]) -> None:
    await wait_until(lambda: len(fetches) >= 3, timeout=30.0, message="idle fetches")
    producer = AIOKafkaProducer(bootstrap_servers=noida["kafka_bootstrap"])
    await producer.start()
    try:
        topic = next(iter(consumer.subscription()))
        await producer.send_and_wait(topic, b"live")
    finally:
        await producer.stop()
    record = await asyncio.wait_for(consumer.getone(), timeout=10.0)
    assert record.value == b"live"
