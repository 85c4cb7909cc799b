"""``infra.kafka.partition_for``: the partition of an aggregate's events, as Kafka's own
default partitioner computes it, so that any client reading the topic (or the event
store) agrees with the relay."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from infra.kafka import partition_for


@pytest.mark.parametrize(("key", "partition"), [
    # The Java client's partitions of these keys among 1,000 partitions, as kafka-python's
    # test_murmur2_java_compatibility records them (its comment: "compare with output from
    # Kafka's org.apache.kafka.clients.producer.Partitioner").
    (b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566),
    (b"\x00 ", 742),
])
def test_the_java_clients_partition_of_known_keys(key: bytes, partition: int) -> None:
    assert partition_for(key, 1000) == partition


@given(key=st.binary(max_size=64), partitions=st.integers(min_value=1, max_value=4096))
def test_the_partition_the_producers_default_partitioner_picks(key: bytes,
                                                               partitions: int) -> None:
    chosen = partition_for(key, partitions)
    assert 0 <= chosen < partitions
    every = list(range(partitions))
    assert chosen == DefaultPartitioner()(key, every, every)


def test_aggregate_ids_spread_over_the_partitions() -> None:
    counts = [0] * 4
    for _ in range(4000):
        counts[partition_for(str(uuid.uuid4()).encode(), 4)] += 1
    assert min(counts) > 800  # 1,000 each expected; a stuck hash would give 0 or 4,000


def test_one_partition_takes_everything() -> None:
    assert {partition_for(str(uuid.uuid4()).encode(), 1) for _ in range(100)} == {0}


@pytest.mark.parametrize("partitions", [0, -1])
def test_a_topic_has_at_least_one_partition(partitions: int) -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for(b"key", partitions)
