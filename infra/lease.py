"""A short Redis lease, so one process at a time applies events to a projector.

Projectors that keep their position apart from their writes (the Redis
timelines) cannot use a database lock. Every apply takes this lease first, so
workers, sweeps and rebuilds in several processes apply one event at a time,
each after re-reading the position; a crashed holder's lease expires.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseTimeout(TimeoutError):
    """Another process held the lease for longer than we were willing to wait."""


class RedisLease:
    def __init__(self, redis: Redis, key: str, ttl_s: float = 30.0, wait_s: float = 60.0
                 ) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.wait_s = wait_s
        self._release = redis.register_script(_RELEASE)

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
        try:
            yield
        finally:
            await self._release(keys=[self.key], args=[token])
