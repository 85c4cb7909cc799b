"""``infra.ride_along`` against the real Redis: a waiting rider goes with the first
boarding pipeline of its own client and only that one, even from tasks that copied
the request's context; a rider nothing took is sent alone; a rider whose script
Redis lacks is sent again after loading, the caller's errors stay the caller's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, ResponseError

from infra.lua import Answer, PipelinedScript
from infra.ride_along import Rider, alight, arrive, board, wait
from tests.conftest import REDIS_CLUSTER, make_settings
from tests.redis_round_trips import counting_round_trips

pytestmark = pytest.mark.skipif(
    REDIS_CLUSTER, reason="a rider is never made on a Redis Cluster (RateLimiter.rides_along)")


@pytest.fixture
async def client() -> AsyncIterator[tuple[aredis.Redis, str]]:
    settings = make_settings()
    redis = aredis.Redis.from_url(settings.redis_url)
    await redis.ping()  # connected: the handshake is no round trip of a test
    try:
        yield redis, settings.redis_prefix
    finally:
        keys = [key async for key in redis.scan_iter(match=settings.redis_prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def incr_rider(redis: aredis.Redis, key: str, script: PipelinedScript | None = None
               ) -> Rider[int]:
    """A rider that counts its runs in ``key`` (by ``script`` when given)."""
    def queue(pipe: Pipeline) -> Answer[int]:
        if script is None:
            pipe.incr(key)
        else:
            script.queue(pipe, [key], [])
        return Answer(1, lambda replies: int(replies[0]))

    return Rider(redis, queue, [script] if script else [])


async def first_read(redis: aredis.Redis, key: str,
                     queue: Callable[[Pipeline], object] | None = None) -> list[Any]:
    """A read's first call as ``LivePointer.checked`` makes it (it takes riders):
    ``GET key``, or what ``queue`` queues."""
    async with redis.pipeline(transaction=False) as pipe:
        boarded = board(pipe, redis)
        if queue is None:
            pipe.get(key)
        else:
            queue(pipe)
        return alight(boarded, await pipe.execute(raise_on_error=False))


async def test_a_waiting_rider_goes_with_the_first_read_and_only_once(
        client: tuple[aredis.Redis, str]) -> None:
    redis, prefix = client
    rider = incr_rider(redis, prefix + "runs")
    await redis.set(prefix + "value", "v")
    wait(rider)
    with counting_round_trips() as trips:
        # tasks started meanwhile copy the context with the rider waiting: none takes
        # it (a process-wide poller started by a request must not carry its charge)
        found = await asyncio.gather(*(first_read(redis, prefix + "value") for _ in range(3)))
        assert found == [[b"v"]] * 3 and not rider.boarded
        assert await first_read(redis, prefix + "value") == [b"v"]  # the owner's: taken
        assert await first_read(redis, prefix + "value") == [b"v"]  # once
        assert await arrive(rider) == 1
    # the reads' pipelines, not the new connections' handshakes
    reads = [names for names in trips.sent if "GET" in names]
    assert reads == [["GET"]] * 3 + [["INCRBY", "GET"], ["GET"]], trips
    assert await redis.get(prefix + "runs") == b"1"


async def test_a_rider_nothing_took_is_sent_alone(client: tuple[aredis.Redis, str]) -> None:
    redis, prefix = client
    other = aredis.Redis.from_url(make_settings().redis_url)
    try:
        rider = incr_rider(redis, prefix + "runs")
        wait(rider)
        await first_read(other, prefix + "value")  # another client's pipeline: not taken
        with counting_round_trips() as trips:
            assert await arrive(rider) == 1
            assert await first_read(redis, prefix + "value") == [None]  # waits no more
        assert trips.sent == [["INCRBY"], ["GET"]]
        assert await arrive(rider) == 1  # its answer, not another run
    finally:
        await other.aclose()
    assert await redis.get(prefix + "runs") == b"1"


async def test_a_rider_whose_script_redis_lacks_is_sent_again_after_loading(
        client: tuple[aredis.Redis, str]) -> None:
    redis, prefix = client
    script = PipelinedScript(f"-- {uuid.uuid4()}\nreturn redis.call('INCR', KEYS[1])")
    rider = incr_rider(redis, prefix + "runs", script)
    wait(rider)
    assert await first_read(redis, prefix + "value") == [None]  # the read is not failed
    assert not rider.landed
    assert await arrive(rider) == 1
    assert await redis.get(prefix + "runs") == b"1"


async def test_the_callers_own_error_is_raised_after_the_rider_landed(
        client: tuple[aredis.Redis, str]) -> None:
    redis, prefix = client
    rider = incr_rider(redis, prefix + "runs")
    await redis.set(prefix + "list", "not a list")
    wait(rider)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await first_read(redis, "", lambda pipe: pipe.lpush(prefix + "list", "x"))
    assert rider.landed
    assert await arrive(rider) == 1  # landed: not sent again
    assert await redis.get(prefix + "runs") == b"1"

    missing = PipelinedScript(f"-- {uuid.uuid4()}\nreturn 1")
    wait(incr_rider(redis, prefix + "more"))
    with pytest.raises(NoScriptError):  # infra.lua.loading sees it and loads the script
        await first_read(redis, "", lambda pipe: missing.queue(pipe, [prefix + "k"], []))
