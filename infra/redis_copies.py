"""Copies of a Redis projection side by side, for blue-green rebuilds of the timelines
and the trends (docs/architecture.md, "Blue-green rebuilds of the Redis projections").

A copy is a key namespace. Copy ``v1`` is the projection's keys under the prefix
itself, where they always lived; copy ``vN`` (N > 1), and a verify's ``scratch``
copy, are the same keys under ``<prefix>copy:<projection>:<label>:`` (``copy_keys``).
The string ``<prefix>projection:<projection>:live`` (``RedisKeys.live_copy``; absent:
``v1``), the *pointer*, names the live copy; a switch is one ``SET`` of it.

Readers pay no round trip for it: ``LivePointer.checked`` sends ``GET pointer`` first
in the pipeline that carries the read's own commands, addressed to the copy this
process last saw live; when the pointer names another copy, the commands are sent
again for that one (once per process per switch). A read of several calls pins the
copy its first call found (``infra.live_timelines``), so it never mixes copies. The
live projector re-reads the pointer under its lease before each apply
(``following``); the switch holds that lease, so no write lands in the old copy
after it. The old copy is unlinked ``Settings.rebuild_retire_grace_s`` after the
switch, when the reads that pinned it have finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from infra.copies import copy_label
from infra.redis_cleanup import unlink_matching
from infra.redis_keys import RedisKeys
from projections.runner import Lease

FIRST: Final = copy_label(1)
"""The label of the copy under the prefix itself (live until a first rebuild)."""
MAX_MOVES: Final = 3
"""How many times in a row ``LivePointer.checked`` follows a moved pointer before it
gives up (a switch is minutes apart from the next)."""

Fill = Callable[[Pipeline, str], Awaitable[None] | None]
"""``fill(pipe, label)``: queue a read's commands for copy ``label`` on ``pipe``."""


def copy_keys(base: RedisKeys, name: str, label: str) -> RedisKeys:
    """The key layout of projection ``name``'s copy ``label``: ``base`` for ``v1``,
    ``<prefix>copy:<name>:<label>:`` otherwise."""
    return base if label == FIRST else RedisKeys(f"{base.prefix}copy:{name}:{label}:")


def label_of(raw: bytes | str | None) -> str:
    """A pointer's value as a label (``v1`` when it is absent)."""
    if raw is None:
        return FIRST
    return raw.decode() if isinstance(raw, bytes) else raw


class LivePointer:
    """Which copy of Redis projection ``name`` is live: the pointer, and the copy this
    process last saw named by it (``label``)."""

    def __init__(self, redis: Redis, base: RedisKeys, name: str) -> None:
        self.redis = redis
        self.base = base
        self.name = name
        self.key = base.live_copy(name)
        self.label = FIRST

    def keys(self, label: str) -> RedisKeys:
        return copy_keys(self.base, self.name, label)

    def saw(self, raw: bytes | str | None) -> str:
        """Note the pointer's value as just read; the label it names."""
        self.label = label_of(raw)
        return self.label

    async def read(self) -> str:
        """One ``GET``: the live copy's label."""
        return self.saw(await self.redis.get(self.key))

    async def checked(self, fill: Fill) -> tuple[str, list[Any]]:
        """Run a read's commands (``fill``) in one pipeline after ``GET pointer``,
        addressed to the copy last seen live, again for the live one if it moved:
        (the label of the copy read, the commands' answers).

        Raises:
            RuntimeError: the pointer moved ``MAX_MOVES`` times in a row.
            redis-py errors: Redis failed.
        """
        for _ in range(MAX_MOVES):
            label = self.label
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self.key)
                queued = fill(pipe, label)
                if queued is not None:
                    await queued
                found = await pipe.execute()
            if self.saw(found[0]) == label:
                return label, found[1:]
        raise RuntimeError(f"the live copy of {self.name} moved {MAX_MOVES} times in a row")

    async def switch(self, label: str) -> None:
        """Make copy ``label`` the live one (one ``SET``)."""
        await self.redis.set(self.key, label)
        self.label = label


async def unlink_copy(redis: Redis, base: RedisKeys, name: str, label: str,
                      kinds: Collection[str], exact: Sequence[str] = (),
                      batch: int = 1000) -> None:
    """Unlink every key of projection ``name``'s copy ``label`` (``SCAN`` and ``UNLINK``
    ``batch`` keys at a time, never ``KEYS``). For ``v1``, which shares the prefix with
    everything else, those are the keys whose first part after the prefix is one of
    ``kinds`` (``home`` of ``home:{42}``) and the keys ``exact`` (named for copy ``v1``:
    its position); for another copy, every key of its namespace."""
    if label != FIRST:
        await unlink_matching(redis, f"{copy_keys(base, name, label).prefix}*", batch)
        return
    prefix = base.prefix.encode()

    def owned(key: bytes) -> bool:
        return key[len(prefix):].split(b":", 1)[0].decode(errors="replace") in kinds

    await unlink_matching(redis, f"{base.prefix}*", batch, owned)
    if exact:
        await redis.unlink(*exact)


async def copies_present(redis: Redis, base: RedisKeys, name: str) -> set[str]:
    """The labels of projection ``name``'s copies that have keys, ``v1`` aside (one
    ``SCAN``)."""
    prefix = f"{base.prefix}copy:{name}:".encode()
    labels: set[str] = set()
    async for key in redis.scan_iter(match=f"{prefix.decode()}*", count=1000):
        labels.add(key[len(prefix):].split(b":", 1)[0].decode())
    return labels


def following(lease: Lease, follow: Callable[[], Awaitable[None]]) -> Lease:
    """``lease`` that, once held, has the projector's store re-read the pointer
    (``follow``), so every apply writes the copy live when it started; one ``GET``
    per lease held (a batch of events)."""

    @asynccontextmanager
    async def held() -> AsyncIterator[None]:
        async with lease():
            await follow()
            yield

    return held
