"""A short Redis lease, so one process at a time applies events to a projector.

Projectors that keep their position apart from their writes (the Redis
timelines) cannot use a database lock. Every apply takes this lease first, so
workers, sweeps and rebuilds in several processes apply one event at a time,
each after re-reading the position.

The lease is short (``ttl_s``, 5 s by default) and renewed while held, so a
long apply keeps it but a crashed (SIGKILLed) holder blocks the others for a
few seconds at most, not for as long as the longest apply could take. The renewal
stops on a flag as well as on its cancellation, and the holder waits for it at most
one lease life (``infra.tasks``: a cancellation lost inside redis-py once left a
renewal running for ever and the projector stuck behind its own lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from redis.asyncio import Redis

from infra.lua import load_script
from infra.tasks import stop_task
from ports.errors import DependencyUnavailable

_RELEASE = load_script("infra", "delete_if_holder")
_RENEW = load_script("infra", "lease_renew")
log = structlog.get_logger(__name__)


class LeaseTimeout(TimeoutError):
    """Another process held the lease for longer than we were willing to wait."""


class LeaseLost(DependencyUnavailable):
    """A renewal found the lease lapsed or held by another process (a pause longer than
    the lease's life: a stalled event loop, a Redis failover): the block may have run
    beside another holder. Raised when the block ends, as a failed renewal is. An
    outage, not the events' fault (``infra.failures.is_transient``): the runner retries
    the batch after its backoff and parks nothing."""


class RedisLease:
    def __init__(self, redis: Redis, key: str, ttl_s: float = 5.0, wait_s: float = 60.0
                 ) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.wait_s = wait_s
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_s
        pause = 0.002
        while not await self.redis.set(self.key, token, nx=True, px=self.ttl_ms):
            if time.monotonic() >= deadline:
                raise LeaseTimeout(f"lease {self.key} still held after {self.wait_s}s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
        released = asyncio.Event()
        keeper = asyncio.create_task(self._keep(token, released), name=f"lease-{self.key}")
        try:
            yield
        except BaseException:  # the body's error (or cancellation) is what leaves
            with contextlib.suppress(Exception):
                await self._end(keeper, released, token)
            raise
        failed = await self._end(keeper, released, token)
        if failed is not None:  # a renewal failed while the body ran: it may have lapsed
            raise failed

    async def _end(self, keeper: asyncio.Task[None], released: asyncio.Event, token: str
                   ) -> BaseException | None:
        """Stop the renewal (waiting at most one lease life) and release the lease,
        also when this task is cancelled meanwhile; the renewal's error, if any."""
        released.set()
        try:
            return await stop_task(keeper, self.ttl_ms / 1000)
        finally:
            await asyncio.shield(self._release(keys=[self.key], args=[token]))

    async def _keep(self, token: str, released: asyncio.Event) -> None:
        """Renew the lease every third of its life until ``released`` is set. An error
        once it is set is the stop's own cancellation as redis-py may turn it (a
        ``TimeoutError``), not a failed renewal. ``LeaseLost`` when a renewal finds the
        lease no longer ours (the script answers 0): renewing stops there."""
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            if released.is_set():
                return
            try:
                renewed = await self._renew(keys=[self.key], args=[token, self.ttl_ms])
            except Exception:
                if released.is_set():
                    return
                raise
            if not renewed and not released.is_set():
                log.error("lease.lost", key=self.key)
                raise LeaseLost(f"lease {self.key} lapsed while held: another process "
                                "may have taken it")
