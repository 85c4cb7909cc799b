"""Kafka plumbing: topic creation and the relay's producer.

The consumers' empty-fetch pause (a patch of aiokafka) is in ``infra.kafka_fetch_patch``.
"""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
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

