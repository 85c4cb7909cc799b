"""Trend counters in Redis (port ``ports.trends``).

Keys (``ROOST_REDIS_PREFIX`` first; ``<b>``: the bucket's start in Unix seconds;
``f``: 10-minute buckets, kept 5 h; ``h``: hours):

* ``trend:f:<tag>:<b>``, ``trend:h:<tag>:<b>`` (hashes, hours kept 8 days): ``w``
  the weighted volume, ``n`` the distinct texts;
* ``trend:fa:<tag>:<b>``, ``trend:ha:<tag>:<b>`` (HyperLogLogs, hours kept 25 h):
  distinct authors;
* ``trend:ft:<b>``, ``trend:ht:<b>`` (sorted sets, hours kept 25 h): tag ->
  weighted volume, the candidates of a window;
* ``trend:seen:<tag>:<day>`` (set, 2 days): the text keys already counted;
* ``projection:trends:position``: the projector's position.

Each batch is one Lua script (``trend_counters_record.lua``), so counts and
position change together: exactly once. Multi-key scripts assume one Redis
(not Redis Cluster), as the timelines already do.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.exceptions
from redis.asyncio import Redis

from infra.lua import load_script
from infra.redis_cleanup import unlink_matching
from infra.redis_keys import RedisKeys
from ports.errors import DependencyUnavailable
from ports.projectors import TRENDS
from ports.trends import BUCKET_S, DAY_S, HOUR_S, WEEK_S, TagUse, TagWindow

_RECORD = load_script("infra", "trend_counters_record")
FINE_TTL_S = 5 * HOUR_S
HOUR_HASH_TTL_S = WEEK_S + DAY_S + HOUR_S
HOUR_TTL_S = DAY_S + HOUR_S
SEEN_TTL_S = 2 * DAY_S
FINE_WINDOWS = frozenset({HOUR_S, 4 * HOUR_S})


def _buckets(start_s: int, end_s: int, size: int) -> list[int]:
    """Starts of the buckets of ``size`` seconds whose start is in (start_s, end_s]:
    the window ending at ``end_s`` (its last bucket is the current one)."""
    first = start_s // size * size + size
    return list(range(first, end_s // size * size + 1, size))


def _hours_before(window: list[int], span_s: int) -> list[int]:
    """Starts of the hours in the ``span_s`` seconds before the hour in which
    ``window`` (bucket starts) begins: a baseline never overlaps its window."""
    end = window[0] // HOUR_S * HOUR_S
    return list(range(end - span_s, end, HOUR_S))


class RedisTrendCounters:
    """``TrendCounterWriter`` and ``TrendCounterReader`` over one Redis."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self.prefix = f"{keys.prefix}trend:"
        self._record = redis.register_script(_RECORD)

    def _key(self, kind: str, *parts: object) -> str:
        return self.prefix + kind + ":" + ":".join(str(p) for p in parts)

    async def position(self) -> int:
        try:
            value = await self.redis.get(self.keys.projection_position(TRENDS))
        except redis.exceptions.RedisError as error:
            raise DependencyUnavailable(f"Redis: {error}") from error
        return int(value) if value else 0

    async def record(self, uses: Sequence[TagUse], first: int, upto: int | None) -> bool:
        keys: list[str] = [self.keys.projection_position(TRENDS)]
        args: list[str | int | float] = [first, "" if upto is None else upto, FINE_TTL_S,
                                         HOUR_HASH_TTL_S, HOUR_TTL_S, SEEN_TTL_S]
        for use in uses:
            fine, hour = use.at_s // BUCKET_S * BUCKET_S, use.at_s // HOUR_S * HOUR_S
            keys += [self._key("f", use.tag, fine), self._key("h", use.tag, hour),
                     self._key("fa", use.tag, fine), self._key("ha", use.tag, hour),
                     self._key("ft", fine), self._key("ht", hour),
                     self._key("seen", use.tag, use.at_s // DAY_S)]
            args += [use.tag, use.text_key, use.author_id, repr(float(use.weight))]
        try:
            return bool(await self._record(keys=keys, args=args))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise DependencyUnavailable(f"Redis: {error}") from error

    async def reset(self) -> None:
        await unlink_matching(self.redis, f"{self.prefix}*")
        await self.redis.unlink(self.keys.projection_position(TRENDS))

    def _grain(self, window_s: int) -> tuple[int, str]:
        return (BUCKET_S, "f") if window_s in FINE_WINDOWS else (HOUR_S, "h")

    async def candidates(self, now_s: int, window_s: int, limit: int) -> list[str]:
        size, kind = self._grain(window_s)
        sources = [self._key(f"{kind}t", b) for b in _buckets(now_s - window_s, now_s, size)]
        if not sources:
            return []
        found = await self.redis.zunion(sources, withscores=True)
        pairs = [(_text(pair[0]), float(pair[1])) for pair in found
                 if isinstance(pair, tuple | list)]
        return [tag for tag, _ in sorted(pairs, key=lambda p: (-p[1], p[0]))[:limit]]

    async def windows(self, tags: Sequence[str], now_s: int, window_s: int
                      ) -> list[TagWindow]:
        size, kind = self._grain(window_s)
        window = _buckets(now_s - window_s, now_s, size)
        day = _hours_before(window, DAY_S)
        week = _hours_before(window, WEEK_S)
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                for bucket in window:
                    pipe.hmget(self._key(kind, tag, bucket), "w", "n")
                pipe.pfcount(*(self._key(f"{kind}a", tag, b) for b in window))
                for bucket in week:
                    pipe.hget(self._key("h", tag, bucket), "w")
            answers = iter(await pipe.execute())
        found = []
        half = len(window) // 2
        for tag in tags:
            counts = [next(answers) for _ in window]
            authors = int(next(answers))
            weekly = {b: _float(next(answers)) for b in week}
            weights = [_float(w) for w, _ in counts]
            found.append(TagWindow(
                tag=tag, volume=sum(weights), first_half=sum(weights[:half]),
                second_half=sum(weights[half:]), posts=sum(int(n or 0) for _, n in counts),
                authors=authors, baseline_day=sum(weekly[b] for b in day) / 24,
                baseline_week=sum(weekly.values()) / (WEEK_S // HOUR_S)))
        return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _float(value: bytes | str | None) -> float:
    return float(value) if value else 0.0
