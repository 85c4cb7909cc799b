"""A scratch copy of the home timelines in Redis, for ``roost projections verify
timelines`` (``infra.rebuild.TimelineCopies``).

A copy is the timeline store under a prefix of its own, ``<prefix>copy:<label>:``
(``scratch_keys``): every key the timeline projector owns
(``RedisKeys.timeline_patterns``) exists there under the same suffix. Home
timelines are only pushed to *kept* readers (those who read lately), so the copy
is made with the live copy's kept readers marked kept before it is filled;
``differences`` then compares each owned key of the live prefix with its twin.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from infra.redis_cleanup import unlink_matching
from infra.redis_keys import SENTINEL, RedisKeys
from infra.timeline_store import RedisTimelineStore


def scratch_keys(keys: RedisKeys, label: str) -> RedisKeys:
    """The key layout of copy ``label`` beside ``keys``'s."""
    return RedisKeys(f"{keys.prefix}copy:{label}:")


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def kept_readers(redis: Redis, keys: RedisKeys) -> list[int]:
    """The readers whose live home timeline is kept (it exists)."""
    found: list[int] = []
    async for raw in redis.scan_iter(match=f"{keys.prefix}home:{{*}}", count=1000):
        found.append(int(_text(raw).rsplit("{", 1)[1].rstrip("}")))
    return found


async def make_copy(store: RedisTimelineStore, live: RedisKeys, ttl_s: int) -> None:
    """Empty ``store``'s namespace, then mark kept every reader kept in ``live``."""
    await drop_copy(store.redis, store.keys)
    for reader in await kept_readers(store.redis, live):
        await store.mark_kept(reader, ttl_s)


async def drop_copy(redis: Redis, keys: RedisKeys) -> None:
    """Unlink every key of the copy's namespace."""
    await unlink_matching(redis, f"{keys.prefix}*")


async def _dump(redis: Redis, keys: RedisKeys) -> dict[str, Any]:
    """``{suffix: contents}`` of every key the timeline projector owns under ``keys``
    (the copy's own keys left out of the live dump)."""
    found: dict[str, Any] = {}
    for pattern in keys.timeline_patterns():
        async for raw in redis.scan_iter(match=pattern, count=1000):
            key = _text(raw)
            if key.startswith(f"{keys.prefix}copy:"):
                continue
            kind = _text(await redis.type(key))
            value: Any
            if kind == "zset":
                pairs: Any = await redis.zrange(key, 0, -1, withscores=True)
                value = {_text(m): s for m, s in pairs if _text(m) != SENTINEL}
            elif kind == "hash":
                value = {_text(k): _text(v) for k, v in (await redis.hgetall(key)).items()}
            elif kind == "set":
                value = sorted(_text(m) for m in await redis.smembers(key))
            else:
                value = _text(await redis.get(key))
            found[key.removeprefix(keys.prefix)] = value
    return found


async def differences(redis: Redis, live: RedisKeys, copy: RedisKeys, limit: int
                      ) -> list[dict[str, Any]]:
    """Every owned key whose contents differ between ``live`` and ``copy`` (at most
    ``limit`` per kind of key), in the shape of ``infra.copies.PgCopies.differences``:
    ``table`` is the key's kind (``home``, ``authored``, ...), ``key`` ``{"key":
    suffix}``; for sorted sets and hashes ``columns`` names each member that
    differs (``[live score or value, rebuilt one]``, None where absent)."""
    was, now = await _dump(redis, live), await _dump(redis, copy)
    found: list[dict[str, Any]] = []
    per_kind: dict[str, int] = {}
    for suffix in sorted({*was, *now}):
        before, after = was.get(suffix), now.get(suffix)
        if before == after:
            continue
        kind = suffix.split(":", 1)[0]
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
