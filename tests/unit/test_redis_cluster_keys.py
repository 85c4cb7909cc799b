"""Keys that a script, transaction or multi-key command takes together share a hash
slot, as a Redis Cluster requires (docs/architecture.md, "Redis key layout and hash
tags"); no server needed."""

from __future__ import annotations

import redis.asyncio as aredis
from redis.crc import key_slot

from infra.live import LiveKeys, slot_tag
from infra.redis_clients import by_slot
from infra.redis_keys import RedisKeys
from infra.timeline_store import RedisTimelineStore
from infra.trend_counters import counters_prefix
from ports.live import AUTHOR_CHANNEL, HOME_CHANNEL, NOTIFICATIONS_CHANNEL
from ports.projectors import TRENDS


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_a_reader_s_timeline_and_its_index_share_a_slot() -> None:
    keys = RedisKeys("roost:")
    for reader in (1, 42, 10**18):
        assert slot(keys.home(reader)) == slot(keys.home_index(reader))


def test_the_trend_counters_share_the_slot_of_the_trends_position() -> None:
    keys = RedisKeys("roost:")
    position = slot(keys.projection_position(TRENDS))
    for counter in ("f:roost:1775001600", "ha:tag:1775001600", "ft:1775001600",
                    "seen:tag:20543", "d:tag:1774915200", "suspended"):
        assert slot(counters_prefix(keys) + counter) == position


def test_a_slot_tag_hashes_to_its_slot() -> None:
    for wanted in (0, 1, 4242, 16383):
        assert slot(slot_tag(wanted)) == wanted


def test_on_a_cluster_a_live_head_is_in_the_slot_of_its_buffers() -> None:
    single, cluster = LiveKeys("roost:"), LiveKeys("roost:", cluster=True)
    for channel in (HOME_CHANNEL, AUTHOR_CHANNEL, NOTIFICATIONS_CHANNEL):
        for account in (1, 7, 123456789):
            stream = cluster.stream(channel, account)
            assert slot(cluster.head(channel, stream)) == slot(stream)
            assert single.head(channel, stream) == single.head(channel)  # one per group


def test_by_slot_groups_keys_of_one_slot_in_first_seen_order() -> None:
    keys = [f"k:{{{n}}}" for n in range(200)]
    groups = by_slot(keys, lambda k: k, cluster=True)
    assert sorted(k for group in groups for k in group) == sorted(keys)
    assert all(len({slot(k) for k in group}) == 1 for group in groups)
    assert len({slot(group[0]) for group in groups}) == len(groups)
    assert by_slot(keys, lambda k: k, cluster=False) == [keys]


def test_a_cluster_fan_out_calls_a_script_per_slot_of_readers() -> None:
    store = RedisTimelineStore(aredis.Redis(), RedisKeys("roost:"), max_entries=10, batch=4)
    readers = list(range(1, 301))
    store._cluster = True
    calls = list(store._chunks(readers, items=1))
    assert sorted(r for call in calls for r in call) == readers
    for call in calls:
        assert len(call) <= 4
        assert len({slot(k) for k in store._timeline_keys(call)}) == 1
    store._cluster = False  # one Redis: readers in order, ``batch`` per call
    assert list(store._chunks(readers, items=1)) == [readers[i:i + 4]
                                                     for i in range(0, 300, 4)]
