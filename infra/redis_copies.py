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
from typing import Any, Final, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from infra.copies import copy_label
from infra.redis_cleanup import unlink_matching
from infra.redis_keys import RedisKeys
from infra.ride_along import alight, board
from projections.runner import Lease

FIRST: Final = copy_label(1)
"""The label of the copy under the prefix itself (live until a first rebuild)."""
MAX_MOVES: Final = 3
"""How many times in a row ``LivePointer.checked`` follows a moved pointer before it
gives up (a switch is minutes apart from the next)."""

Fill = Callable[[Pipeline, str], object]
"""``fill(pipe, label)``: queue a read's commands for copy ``label`` on ``pipe`` (what it
returns is ignored)."""


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
        (the label of the copy read, the commands' answers). The first pipeline takes
        the request's waiting overhead along (``infra.ride_along``).

        Raises:
            RuntimeError: the pointer moved ``MAX_MOVES`` times in a row.
            redis-py errors: Redis failed.
        """
        for _ in range(MAX_MOVES):
            label = self.label
            async with self.redis.pipeline(transaction=False) as pipe:
                rider = board(pipe, self.redis)  # the request's overhead, if it waits
                pipe.get(self.key)
                fill(pipe, label)
                # errors as replies only with a rider (its own may be NOSCRIPT): a
                # cluster pipeline retries a failover's errors only when it raises them
                found = alight(rider, await pipe.execute(raise_on_error=rider is None))
            if self.saw(found[0]) == label:
                return label, found[1:]
        raise RuntimeError(f"the live copy of {self.name} moved {MAX_MOVES} times in a row")

    async def switch(self, label: str) -> None:
        """Make copy ``label`` the live one (one ``SET``)."""
        await self.redis.set(self.key, label)
        self.label = label


S = TypeVar("S")


class CopyStores(Generic[S]):
    """The store adapter of each copy of a Redis projection (``make(keys)``, made once
    per copy and process), with its ``pointer``."""

    def __init__(self, pointer: LivePointer, make: Callable[[RedisKeys], S]) -> None:
        self.pointer = pointer
        self.make = make
        self._made: dict[str, S] = {}

    def store(self, label: str) -> S:
        found = self._made.get(label)
        if found is None:
            found = self._made[label] = self.make(self.pointer.keys(label))
        return found


class Pin(Generic[S]):
    """The copy one read uses: the copy its first call finds live, kept for its later
    calls when ``pins`` (a read of several calls), else found anew by each call."""

    def __init__(self, stores: CopyStores[S], pins: bool) -> None:
        self.stores = stores
        self.pins = pins
        self._store: S | None = None

    def _found(self, label: str) -> S:
        store = self.stores.store(label)
        if self.pins:
            self._store = store
        return store

    async def store(self) -> S:
        """The pinned copy's store, or the live one's (one ``GET`` first)."""
        if self._store is not None:
            return self._store
        return self._found(await self.stores.pointer.read())

    async def first(self, queue: Callable[[S, Pipeline], object]) -> list[Any]:
        """The answers of the commands ``queue(store, pipe)`` queues (what it returns is
        ignored: a pipeline's command methods return the pipeline) for the pinned copy,
        or for the live one with ``GET pointer`` in the same pipeline (no round trip
        added): a read's first call."""
        if self._store is not None:
            async with self.stores.pointer.redis.pipeline(transaction=False) as pipe:
                queue(self._store, pipe)
                found: list[Any] = await pipe.execute()
                return found

        def fill(pipe: Pipeline, label: str) -> None:
            queue(self.stores.store(label), pipe)

        label, found = await self.stores.pointer.checked(fill)
        self._found(label)
        return found


async def unlink_copy(redis: Redis, base: RedisKeys, name: str, label: str,
                      kinds: Collection[str], exact: Sequence[str] = (),
                      batch: int = 1000, shared: Callable[[str], bool] | None = None
                      ) -> None:
    """Unlink every key of projection ``name``'s copy ``label`` (``SCAN`` and ``UNLINK``
    ``batch`` keys at a time, never ``KEYS``). For ``v1``, which shares the prefix with
    everything else, those are the keys whose first part after the prefix is one of
    ``kinds`` (``home`` of ``home:{42}``) -- but for those ``shared(suffix)`` keeps
    (keys every copy uses, as the trends' stored answers and their locks) -- and the
    keys ``exact`` (named for copy ``v1``: its position); for another copy, every key
    of its namespace."""
    if label != FIRST:
        await unlink_matching(redis, f"{copy_keys(base, name, label).prefix}*", batch)
        return
    prefix = base.prefix.encode()

    def owned(key: bytes) -> bool:
        suffix = key[len(prefix):].decode(errors="replace")
        return suffix.split(":", 1)[0] in kinds and not (shared and shared(suffix))

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


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


async def dump(redis: Redis, keys: RedisKeys, patterns: Sequence[str],
               skip: Callable[[str], bool] | None = None, hidden: Collection[str] = ()
               ) -> dict[str, Any]:
    """``{suffix after keys' prefix: contents}`` of every key matching ``patterns`` (but
    those whose suffix ``skip`` names): a sorted set as ``{member: score}`` and a hash
    as ``{field: value}`` (both without the members ``hidden``), a set as its sorted
    members, a HyperLogLog as ``{"pfcount": its count}`` (its bytes change when it is
    counted), any other string as text."""
    found: dict[str, Any] = {}
    for pattern in patterns:
        async for raw in redis.scan_iter(match=pattern, count=1000):
            key = _text(raw)
            suffix = key.removeprefix(keys.prefix)
            if skip is not None and skip(suffix):
                continue
            kind = _text(await redis.type(key))
            value: Any
            if kind == "zset":
                pairs: Any = await redis.zrange(key, 0, -1, withscores=True)
                value = {_text(m): s for m, s in pairs if _text(m) not in hidden}
            elif kind == "hash":
                value = {_text(k): _text(v) for k, v in (await redis.hgetall(key)).items()}
            elif kind == "set":
                value = sorted(_text(m) for m in await redis.smembers(key))
            else:
                text = await redis.get(key)
                if isinstance(text, bytes) and text.startswith(b"HYLL"):
                    value = {"pfcount": await redis.pfcount(key)}
                else:
                    value = None if text is None else _text(text)
            found[suffix] = value
    return found


async def differences(redis: Redis, live: RedisKeys, copy: RedisKeys,
                      patterns: Callable[[RedisKeys], Sequence[str]], limit: int, *,
                      depth: int = 1, skip: Callable[[str], bool] | None = None,
                      hidden: Collection[str] = ()) -> list[dict[str, Any]]:
    """Every key (``patterns(layout)``, ``dump``'s ``skip`` and ``hidden``) whose contents
    differ between copies ``live`` and ``copy`` (at most ``limit`` per kind of key), in
    the shape of ``infra.copies.PgCopies.differences``: ``table`` is the key's kind,
    its first ``depth`` parts (``home``; ``trend:h``), ``key`` ``{"key": suffix}``; for
    sorted sets and hashes ``columns`` names each member that differs (``[live score
    or value, rebuilt one]``, None where absent)."""
    was = await dump(redis, live, patterns(live), skip, hidden)
    now = await dump(redis, copy, patterns(copy), skip, hidden)
    found: list[dict[str, Any]] = []
    per_kind: dict[str, int] = {}
    for suffix in sorted({*was, *now}):
        before, after = was.get(suffix), now.get(suffix)
        if before == after:
            continue
        kind = ":".join(suffix.split(":")[:depth])
        per_kind[kind] = per_kind.get(kind, 0) + 1
        if per_kind[kind] > limit:
            continue
        entry: dict[str, Any] = {"table": kind, "key": {"key": suffix}}
        if before is None or after is None:
            entry["kind"] = "missing" if before is None else "extra"
            entry["columns"] = {"value": [before, after]}
        elif isinstance(before, dict) and isinstance(after, dict):
            entry["kind"] = "changed"
            entry["columns"] = {m: [before.get(m), after.get(m)]
                                for m in sorted({*before, *after})
                                if before.get(m) != after.get(m)}
        else:
            entry["kind"] = "changed"
            entry["columns"] = {"value": [before, after]}
        found.append(entry)
    return found
