"""The projectors' and caches' scripts queued on pipelines (``infra.lua.PipelinedScript``):
no ``SCRIPT EXISTS`` before each pipeline, and a Redis that lost its scripts (restarted,
flushed) gets them loaded and the pipeline sent again, with the same result.

redis-py's ``register_script`` objects, queued on a pipeline, made it send ``SCRIPT
EXISTS`` first: one round trip more per timeline fan-out, live publish, post-cache
fill and follow batch (1.7-2.0 per post in the worker, docs/performance.md). The round
trips are counted per task (``tests.redis_round_trips``), not from the server's stats,
which other clients of a shared Redis move too.
"""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aredis

from infra.live import LiveKeys, RedisLivePublisher, RedisStreamSlots
from infra.post_cache import RedisPostCache
from infra.redis_keys import RedisKeys
from infra.timeline_store import RedisTimelineStore
from ports.live import LiveEvent
from tests.conftest import REDIS_CLUSTER
from tests.contracts.post_cache import body, counts
from tests.redis_round_trips import counting_round_trips

pytestmark = pytest.mark.skipif(
    REDIS_CLUSTER, reason="a cluster pipeline sends each script's text (EVAL): no "
                          "SCRIPT EXISTS, no NOSCRIPT")


@pytest.mark.parametrize("flushed", [False, True], ids=["loaded", "flushed"])
async def test_scripts_on_pipelines_need_no_script_exists_and_survive_a_flush(
        redis_client: aredis.Redis, flushed: bool) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}:"
    keys = RedisKeys(prefix)
    timelines = RedisTimelineStore(redis_client, keys, max_entries=50, batch=2)
    cache = RedisPostCache(redis_client, keys)
    publisher = RedisLivePublisher(redis_client, prefix)
    slots = RedisStreamSlots(redis_client, prefix, limit=3)
    try:
        live = LiveKeys(prefix, False)
        await redis_client.xadd(live.stream("home", 7), {"e": "update"}, id="1-0")  # followed
        slot, _ = await slots.acquire(7)
        assert slot is not None
        if flushed:
            await redis_client.script_flush()

        with counting_round_trips() as sent:
            sizes = await timelines.add_follows([(11, 1), (12, 1), (13, 1), (11, 2)])
            await timelines.push([11, 12, 13], [(100, None)], only_kept=False)  # 2 pipelines
            await timelines.push_each({11: [(101, None)], 12: [(102, None)]}, only_kept=False)
            await timelines.remove([13], [(100, None)])
            await cache.fill({5: body(5)}, {5: counts(likes=3)})
            await publisher.publish([LiveEvent(7, "home", 40, 0, "update", {"id": "100"}),
                                     LiveEvent(8, "home", 41, 0, "update", {"id": "101"})])
            await slots._renew([(slot, 7)])

        scripts = [names for names in sent.sent if "SCRIPT" in names]
        # no SCRIPT EXISTS before a pipeline; after the flush, one SCRIPT LOAD per script
        # (push, remove, counting, fill, publish, renewal), each pipeline sent again
        assert len(scripts) == (6 if flushed else 0), sent
        assert sizes == [1, 2, 3, 1]
        assert sorted(await timelines.followers(1)) == [11, 12, 13]
        assert await redis_client.zcard(keys.home(11)) == 2
        assert await redis_client.zcard(keys.home(12)) == 2
        assert await redis_client.zcard(keys.home(13)) == 0
        assert await cache.get_many([5], [5]) == ({5: body(5)}, {5: counts(likes=3)})
        assert await redis_client.xlen(live.stream("home", 7)) == 2
        assert not await redis_client.exists(live.stream("home", 8))  # nobody follows it
        assert await redis_client.get(live.head("home")) == b"41"
        assert await redis_client.zscore(f"{prefix}live:slots:{{7}}", slot) is not None
    finally:
        stale = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
        if stale:
            await redis_client.unlink(*stale)
