"""Kafka plumbing: topic creation, the partition of an aggregate, the relay's producer.

The consumers' empty-fetch pause (a patch of aiokafka) is in ``infra.kafka_fetch_patch``.
"""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from infra.settings import Settings


class TopicPartitionsMismatch(RuntimeError):
    """The topic exists with another partition count than the settings name.

    Publishing to it would put an aggregate's events on another partition than
    ``partition_for`` with the configured count says (and a consumer of the other
    partitions would wait for them in vain), so the relay refuses to start on it.
    """


def partition_for(key: bytes, partitions: int) -> int:
    """The partition (0 <= p < ``partitions``) of a record keyed ``key``.

    Kafka's default partitioner for a keyed record: murmur2 of the key's bytes, made
    positive, modulo the partition count (``BuiltInPartitioner.partitionForKey`` of the
    Java client, ``Utils.toPositive(Utils.murmur2(key)) % numPartitions``; aiokafka's
    ``murmur2`` is a port of it). So any Kafka client, Kafka Streams or a future router
    that reads the event store computes the same partition for an aggregate as the
    relay, which passes it explicitly instead of letting the producer pick from the
    partitions its metadata happens to list.

    Raises:
        ValueError: ``partitions`` < 1.
    """
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


async def ensure_topic(settings: Settings, *, exact: bool = True) -> None:
    """Create ``settings.kafka_topic`` with ``settings.kafka_partitions`` partitions
    unless it exists; ``exact``: and check that an existing one has that many.

    Raises:
        TopicPartitionsMismatch: ``exact`` and it has another partition count (partitions
            are never added here: adding them moves keys to other partitions, an
            operator's decision, docs/operations.md "Kafka partitions").
        aiokafka.errors.KafkaError: the broker does not answer.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        topic = settings.kafka_topic
        if topic not in await admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, settings.kafka_partitions, 1)])
        if not exact:
            return
        [described] = await admin.describe_topics([topic])
        found = len(described["partitions"])
        if found != settings.kafka_partitions:
            raise TopicPartitionsMismatch(
                f"topic {topic!r} has {found} partitions, ROOST_KAFKA_PARTITIONS says "
                f"{settings.kafka_partitions}")
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
