"""Kafka plumbing: topic creation, the partition of an aggregate, the relay's producer.

The consumers' empty-fetch pause (a patch of aiokafka) is in ``infra.kafka_fetch_patch``.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
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
    unless it exists; ``exact``: and check that the topic has that many.

    The check reads the metadata of all topics (a request naming the topic would
    let a broker that auto-creates topics make it with its own default count).

    Raises:
        TopicPartitionsMismatch: ``exact`` and it has another partition count (partitions
            are never added here: adding them moves keys to other partitions, an
            operator's decision, docs/operations.md "Kafka partitions").
        TopicNotReady: ``exact`` and the broker does not list the topic's partitions yet
            (just created, no leader yet): retry.
        aiokafka.errors.KafkaError: the broker does not answer, or refused the creation.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        topic = settings.kafka_topic
        if topic not in await admin.list_topics():
            created = await admin.create_topics(
                [NewTopic(topic, settings.kafka_partitions, 1)])
            for _name, code, *_ in created.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):  # a racing creator won
                    raise for_code(code)(f"creating topic {topic!r}")
        if exact:
            check_partition_count(settings, await _partitions(admin, topic))
    finally:
        await admin.close()


class TopicNotReady(RuntimeError):
    """The broker lists the topic without its partitions (yet)."""


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> int:
    """How many partitions the broker lists for ``topic`` (metadata of every topic)."""
    for described in await admin.describe_topics():
        if described["topic"] == topic:
            if described["error_code"] or not described["partitions"]:
                raise TopicNotReady(f"topic {topic!r} is not ready (error code "
                                    f"{described['error_code']})")
            return len(described["partitions"])
    raise TopicNotReady(f"topic {topic!r} is not listed yet")


def check_partition_count(settings: Settings, found: int) -> None:
    """Raises ``TopicPartitionsMismatch`` unless ``found`` is ``settings.kafka_partitions``."""
    if found != settings.kafka_partitions:
        raise TopicPartitionsMismatch(
            f"topic {settings.kafka_topic!r} has {found} partitions, ROOST_KAFKA_PARTITIONS "
            f"says {settings.kafka_partitions}")


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """Idempotent, acks from all replicas, small linger so batches form under load."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
