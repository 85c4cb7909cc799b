"""The projector lease: one holder at a time, renewed while held, short after a crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from infra.bootstrap import projector_lease
from infra.failures import is_transient
from infra.lease import LeaseLost, LeaseTimeout, RedisLease
from infra.redis_keys import RedisKeys
from tests.conftest import make_settings


def _key() -> str:
    return f"roost-test:lease:{uuid.uuid4().hex}"


_CRASHING_HOLDER = """
import asyncio, os, signal, sys
from infra.bootstrap import projector_lease
from infra.redis_clients import build_async_redis
from infra.settings import Settings

async def main():
    lease = projector_lease(Settings(), build_async_redis(Settings()), "timelines")
    async with lease.hold():
        print("held", flush=True)
        sys.stdin.readline()
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no release: a crash

asyncio.run(main())
"""


async def test_a_sigkilled_holder_blocks_the_projector_only_briefly(
        redis_client: aredis.Redis) -> None:
    # A TTL long enough that the crashed holder's lease is surely still there when it is
    # checked on a loaded machine (0.5 s lapsed first once, in CI's Redis Cluster pass),
    # short enough that "briefly" still means one lease life, not the default minutes.
    ttl_s = 2.0
    settings = make_settings(projector_lease_ttl_s=ttl_s)
    holder = subprocess.Popen([sys.executable, "-c", _CRASHING_HOLDER], text=True,
                              env={**os.environ, **settings.as_env()},
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.stdin.write("crash\n")
        holder.stdin.flush()
        assert holder.wait(10) == -signal.SIGKILL
        key = RedisKeys(settings.redis_prefix).projector_lease("timelines")
        assert await redis_client.exists(key)  # left behind by the crash
        started = time.monotonic()
        async with projector_lease(settings, redis_client, "timelines").hold():
            waited = time.monotonic() - started
        assert waited < ttl_s + 2.0, f"blocked {waited:.1f}s by a crashed holder"
        assert await redis_client.get(key) is None  # released on exit
    finally:
        holder.kill()
        holder.wait()


async def test_a_long_apply_keeps_its_lease_past_the_ttl(redis_client: aredis.Redis
                                                        ) -> None:
    key = _key()
    holder = RedisLease(redis_client, key, ttl_s=0.3, wait_s=5.0)
    rival = RedisLease(redis_client, key, ttl_s=0.3, wait_s=0.2)
    async with holder.hold():
        token = await redis_client.get(key)
        expires = time.monotonic() + 1.0  # more than three TTLs
        # The holder outlives its TTL while the rival keeps trying and keeps failing.
        while time.monotonic() < expires:
            try:
                async with rival.hold():
                    raise AssertionError("the rival took a held lease")
            except LeaseTimeout:
                pass
        assert await redis_client.get(key) == token
    assert await redis_client.get(key) is None  # released on exit


async def test_release_never_frees_someone_elses_lease(redis_client: aredis.Redis) -> None:
    key = _key()
    lease = RedisLease(redis_client, key, ttl_s=5.0, wait_s=5.0)  # no renewal in the block
    async with lease.hold():
        # Our lease lapsed (as after a long stall) and another process took it.
        await redis_client.set(key, "next-holder", px=5000)
    assert await redis_client.get(key) == b"next-holder"
    await redis_client.delete(key)


async def test_a_renewal_that_loses_its_cancellation_neither_hangs_the_holder_nor_keeps_the_lease(
        redis_client: aredis.Redis) -> None:
    """redis-py can lose a cancellation inside a read (redis/redis-py#2028, #2551); the
    old holder then waited on its renewal task for ever while that task renewed the
    lease every third of its life, and the projector behind it stopped for good."""
    key = _key()
    lease = RedisLease(redis_client, key, ttl_s=0.3, wait_s=5.0)
    renew = lease._renew
    renewing = asyncio.Event()
    losing = True

    async def renew_losing_its_cancel(**kwargs: Any) -> object:
        renewing.set()
        try:
            await asyncio.Event().wait()  # a reply that never comes, cancelled meanwhile
        except asyncio.CancelledError:
            if not losing:
                raise
        return await renew(**kwargs)

    async def hold_while_renewing() -> None:
        async with lease.hold():
            await renewing.wait()

    lease._renew = renew_losing_its_cancel  # type: ignore[assignment]
    holder = asyncio.create_task(hold_while_renewing())
    done, _ = await asyncio.wait({holder}, timeout=5.0)
    losing = False  # so that a holder stuck on the old code can be ended
    if not done:
        holder.cancel()
        await asyncio.wait({holder}, timeout=5.0)
    assert done, "the holder never left its block"
    assert await redis_client.get(key) is None  # released
    keepers = [t for t in asyncio.all_tasks() if t.get_name() == f"lease-{key}"]
    assert not keepers, "the renewal outlived its holder"


async def test_a_holder_cancelled_in_its_block_releases_the_lease_and_stays_cancelled(
        redis_client: aredis.Redis) -> None:
    key = _key()
    lease = RedisLease(redis_client, key, ttl_s=5.0, wait_s=5.0)
    inside = asyncio.Event()

    async def hold_for_ever() -> None:
        async with lease.hold():
            inside.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_for_ever())
    await inside.wait()
    holder.cancel()
    await asyncio.wait({holder}, timeout=5.0)
    assert holder.cancelled()
    assert await redis_client.get(key) is None  # not left to lapse in 5 s


async def test_a_failed_renewal_is_raised_after_a_clean_block_but_never_masks_the_blocks_error(
        redis_client: aredis.Redis) -> None:
    key = _key()

    async def refused(**_: Any) -> object:
        raise RedisConnectionError("renewal refused")

    async def hold(error: Exception | None) -> None:
        lease = RedisLease(redis_client, key, ttl_s=0.15, wait_s=5.0)
        lease._renew = refused  # type: ignore[assignment]
        async with lease.hold():
            keeper, = (t for t in asyncio.all_tasks() if t.get_name() == f"lease-{key}")
            await asyncio.wait({keeper}, timeout=5.0)  # until the renewal has failed
            if error is not None:
                raise error

    with pytest.raises(RedisConnectionError):
        await hold(None)
    with pytest.raises(ValueError, match="the block's own"):
        await hold(ValueError("the block's own"))
    assert await redis_client.get(key) is None


async def test_the_stops_own_cancel_turned_into_an_error_is_not_a_failed_renewal(
        redis_client: aredis.Redis) -> None:
    """redis-py may answer a cancel inside a read with its TimeoutError."""
    key = _key()
    lease = RedisLease(redis_client, key, ttl_s=0.3, wait_s=5.0)
    renewing = asyncio.Event()

    async def renew_turning_cancel_into_timeout(**_: Any) -> object:
        renewing.set()
        try:
            await asyncio.Event().wait()  # until the stop cancels it
        except asyncio.CancelledError:
            raise RedisTimeoutError("Timeout reading from socket") from None
        return 1

    lease._renew = renew_turning_cancel_into_timeout  # type: ignore[assignment]
    async with lease.hold():
        await renewing.wait()
    assert await redis_client.get(key) is None


async def test_a_holder_cancelled_while_stopping_its_renewal_still_releases(
        redis_client: aredis.Redis) -> None:
    key = _key()
    lease = RedisLease(redis_client, key, ttl_s=3.0, wait_s=5.0)
    renewing, stopping = asyncio.Event(), asyncio.Event()

    async def renew_slow_to_stop(**_: Any) -> object:
        renewing.set()
        try:
            await asyncio.Event().wait()  # until the stop cancels it
        except asyncio.CancelledError:
            stopping.set()  # the holder is now waiting in its stop
            await asyncio.Event().wait()  # and this renewal does not end
        return 1

    async def hold() -> None:
        async with lease.hold():
            await renewing.wait()

    lease._renew = renew_slow_to_stop  # type: ignore[assignment]
    lease.ttl_ms = 300  # renew soon; the stop still waits up to 0.3 s
    holder = asyncio.create_task(hold())
    await stopping.wait()
    holder.cancel()
    await asyncio.wait({holder}, timeout=5.0)
    assert holder.cancelled()
    assert await redis_client.get(key) is None  # released, not left to lapse
    for task in [t for t in asyncio.all_tasks() if t.get_name() == f"lease-{key}"]:
        task.cancel()


async def test_a_lease_that_lapsed_while_held_is_raised_and_the_new_holders_kept(
        redis_client: aredis.Redis) -> None:
    """A renewal that finds another holder (the lease lapsed during a pause longer than
    its life and a rival took it) stops renewing and is raised when the block ends, so
    the block's work is retried; the rival's lease is neither renewed nor released."""
    key = _key()
    lease = RedisLease(redis_client, key, ttl_s=0.3, wait_s=5.0)
    with pytest.raises(LeaseLost):
        async with lease.hold():
            await redis_client.set(key, "rival", px=60_000)  # as if it had lapsed and been taken
            keeper, = (t for t in asyncio.all_tasks() if t.get_name() == f"lease-{key}")
            await asyncio.wait({keeper}, timeout=5.0)  # until a renewal has found the rival
            assert keeper.done()
    assert await redis_client.get(key) == b"rival"
    assert await redis_client.pttl(key) > 50_000  # not renewed to our 0.3 s
    assert is_transient(LeaseLost("lost"))  # the runner backs off; it parks no event
    await redis_client.delete(key)
