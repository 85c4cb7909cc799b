"""Trend counters in Redis (port ``ports.trends``).

Keys (``ROOST_REDIS_PREFIX`` first; ``<b>``: the bucket's start in Unix seconds;
``f``: 10-minute buckets, kept 5 h; ``h``: hours). Every counter is under
``trend:{trends}:`` (``COUNTERS``; written ``trend:`` below): the hash tag
``{trends}``, the same as the position's (``projection:{trends}:position``), keeps
the counters and the position in one Redis Cluster slot, as the scripts that
write and read them together need; the trends live on one shard:

* ``trend:f:<tag>:<b>``, ``trend:h:<tag>:<b>`` (hashes, hours kept 8 days): ``w``
  the weighted volume, ``n`` the distinct texts;
* ``trend:fa:<tag>:<b>``, ``trend:ha:<tag>:<b>`` (HyperLogLogs, hours kept 25 h):
  distinct authors;
* ``trend:ft:<b>``, ``trend:ht:<b>`` (sorted sets, hours kept 25 h): tag ->
  weighted volume, the candidates of a window;
* ``trend:d:<tag>:<day>`` (hash, 9 days): ``w`` the day's weighted volume, the sum
  of its hours (a week's baseline is 7 daily reads and a few hours, not 168 hours);
* ``trend:seen:<tag>:<day>`` (set, 2 days): the text keys already counted;
* ``trend:suspended`` (hash, no expiry): account id -> the position of its last
  suspension (positive) or lifting (negative), for the accounts ever suspended;
* ``trend:cache:<key>`` (string, ``ttl_s``): a computed answer (JSON), and
  ``trend:cache-lock:<key>`` (a redis-py ``Lock``): who is computing it;
* ``projection:{trends}:position``: the projector's position.

These are copy ``v1``'s keys; a blue-green rebuild's copy has the same under its
namespace (``infra.redis_copies``), but the answers (``trend:cache:``) stay under
the prefix: they are the readers', whichever copy is live (``infra.live_trends``).

Each batch is one Lua script (``trend_counters_record.lua``), so counts and
position change together: exactly once. A read of a window is one more
(``trend_counters_read.lua``): every candidate's buckets, authors and baselines
in one round trip. Both name keys of the one slot ``{trends}`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.exceptions
from redis.asyncio import Redis

from infra.lua import load_script
from infra.metrics import TRENDS_ANSWERS, TRENDS_COMPUTE_SECONDS
from infra.redis_cleanup import unlink_matching
from infra.redis_keys import RedisKeys
from ports.errors import DependencyUnavailable
from ports.projectors import TRENDS
from ports.trends import (
    BUCKET_S,
    DAY_S,
    HOUR_S,
    WEEK_S,
    Answer,
    Suspension,
    TagUse,
    TagWindow,
)

_RECORD = load_script("infra", "trend_counters_record")
_READ = load_script("infra", "trend_counters_read")
FINE_TTL_S = 5 * HOUR_S
HOUR_HASH_TTL_S = WEEK_S + DAY_S + HOUR_S
HOUR_TTL_S = DAY_S + HOUR_S
SEEN_TTL_S = 2 * DAY_S
DAY_TOTAL_TTL_S = WEEK_S + 2 * DAY_S
FINE_WINDOWS = frozenset({HOUR_S, 4 * HOUR_S})
CACHE_LOCK_S = 30.0
"""How long a reader computing an answer holds the single-flight lock at most."""
CACHE_WAIT_S = 10.0
"""How long other readers wait for it before computing the answer themselves."""
CACHE_POLL_S = 0.02


def _buckets(start_s: int, end_s: int, size: int) -> list[int]:
    """Starts of the buckets of ``size`` seconds whose start is in (start_s, end_s]:
    the window ending at ``end_s`` (its last bucket is the current one)."""
    first = start_s // size * size + size
    return list(range(first, end_s // size * size + 1, size))


def hour_range(start_s: int, end_s: int) -> dict[tuple[str, int], int]:
    """The counters whose sum is the weighted volume of the hours [start_s, end_s)
    (both on the hour): ``{("h", hour start) or ("d", day start): coefficient}``.

    A whole day is its daily total; part of a day is its hours, or its total less
    its other hours when that is fewer reads (so 1 to 13 reads per day touched).
    """
    terms: dict[tuple[str, int], int] = defaultdict(int)
    at = start_s
    while at < end_s:
        day = at // DAY_S * DAY_S
        stop = min(end_s, day + DAY_S)
        inside = range(at, stop, HOUR_S)
        outside = [*range(day, at, HOUR_S), *range(stop, day + DAY_S, HOUR_S)]
        if len(outside) + 1 < len(inside):
            terms[("d", day)] += 1
            for hour in outside:
                terms[("h", hour)] -= 1
        else:
            for hour in inside:
                terms[("h", hour)] += 1
        at = stop
    return {term: c for term, c in terms.items() if c}


class RedisTrendCounters:
    """``TrendCounterWriter``, ``TrendCounterReader`` and ``TrendAnswerCache`` over
    one Redis: the counters under ``keys`` (a copy's: ``infra.redis_copies``), the
    answers under ``answers`` (the prefix's; ``keys`` when not given)."""

    def __init__(self, redis: Redis, keys: RedisKeys, answers: RedisKeys | None = None
                 ) -> None:
        self.redis = redis
        self.keys = keys
        self.prefix = counters_prefix(keys)
        self.answers = f"{(answers or keys).prefix}trend:"
        self._record = redis.register_script(_RECORD)
        self._read = redis.register_script(_READ)
        self._computing: dict[str, asyncio.Task[Any]] = {}

    def _key(self, kind: str, *parts: object) -> str:
        return self.prefix + kind + ":" + ":".join(str(p) for p in parts)

    def pinned(self) -> RedisTrendCounters:
        """Itself: one copy (``infra.live_trends.LiveTrendCounters`` follows the live one)."""
        return self

    async def position(self) -> int:
        try:
            value = await self.redis.get(self.keys.projection_position(TRENDS))
        except redis.exceptions.RedisError as error:
            raise DependencyUnavailable(f"Redis: {error}") from error
        return int(value) if value else 0

    async def suspended(self, account_ids: Sequence[int]) -> set[int]:
        if not account_ids:
            return set()
        try:
            values = await self.redis.hmget(self.prefix + "suspended", list(account_ids))
        except redis.exceptions.RedisError as error:
            raise DependencyUnavailable(f"Redis: {error}") from error
        return {i for i, value in zip(account_ids, values, strict=True)
                if value is not None and int(value) > 0}

    async def record(self, uses: Sequence[TagUse], first: int, upto: int | None,
                     suspensions: Sequence[Suspension] = ()) -> bool:
        keys: list[str] = [self.keys.projection_position(TRENDS), self.prefix + "suspended"]
        args: list[str | int | float] = [first, "" if upto is None else upto, FINE_TTL_S,
                                         HOUR_HASH_TTL_S, HOUR_TTL_S, SEEN_TTL_S,
                                         DAY_TOTAL_TTL_S, len(suspensions)]
        for change in suspensions:
            args += [change.account_id,
                     change.position if change.suspended else -change.position]
        for use in uses:
            fine, hour = use.at_s // BUCKET_S * BUCKET_S, use.at_s // HOUR_S * HOUR_S
            keys += [self._key("f", use.tag, fine), self._key("h", use.tag, hour),
                     self._key("fa", use.tag, fine), self._key("ha", use.tag, hour),
                     self._key("ft", fine), self._key("ht", hour),
                     self._key("seen", use.tag, use.at_s // DAY_S),
                     self._key("d", use.tag, use.at_s // DAY_S * DAY_S)]
            args += [use.tag, use.text_key, use.author_id, repr(float(use.weight))]
        try:
            return bool(await self._record(keys=keys, args=args))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise DependencyUnavailable(f"Redis: {error}") from error

    async def reset(self) -> None:
        await unlink_matching(self.redis, f"{self.prefix}*")
        await self.redis.unlink(self.keys.projection_position(TRENDS))
        await self.forget_answers()

    async def forget_answers(self) -> None:
        """Unlink every stored answer (the counters under them changed)."""
        await unlink_matching(self.redis, f"{self.answers}cache:*")

    def _grain(self, window_s: int) -> tuple[int, str]:
        return (BUCKET_S, "f") if window_s in FINE_WINDOWS else (HOUR_S, "h")

    async def candidates(self, now_s: int, window_s: int, limit: int) -> list[str]:
        sources = self.candidate_sources(now_s, window_s)
        if not sources:
            return []
        return best_candidates(await self.redis.zunion(sources, withscores=True), limit)

    def candidate_sources(self, now_s: int, window_s: int) -> list[str]:
        """The tag sets ``candidates`` sums (``ZUNION``), for a caller that sends it."""
        size, kind = self._grain(window_s)
        return [self._key(f"{kind}t", b) for b in _buckets(now_s - window_s, now_s, size)]

    async def windows(self, tags: Sequence[str], now_s: int, window_s: int
                      ) -> list[TagWindow]:
        """One script (``trend_counters_read.lua``) for every tag: its window's
        buckets and authors, and its baselines from daily totals and a few hours."""
        if not tags:
            return []
        size, kind = self._grain(window_s)
        window = _buckets(now_s - window_s, now_s, size)
        start = window[0] // HOUR_S * HOUR_S
        day = hour_range(start - DAY_S, start)
        week = hour_range(start - WEEK_S, start)
        plan = sorted(set(day) | set(week))
        keys: list[str] = []
        for tag in tags:
            keys += [self._key(kind, tag, b) for b in window]
            keys += [self._key(f"{kind}a", tag, b) for b in window]
            keys += [self._key(grain, tag, at) for grain, at in plan]
        args = [len(window), len(plan), *(day.get(t, 0) for t in plan),
                *(week.get(t, 0) for t in plan)]
        try:
            answer = await self._read(keys=keys, args=args)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise DependencyUnavailable(f"Redis: {error}") from error
        values = [float(_text(v)) for v in answer]
        found = []
        for n, tag in enumerate(tags):
            volume, first, second, posts, authors, day_sum, week_sum = values[n * 7:n * 7 + 7]
            found.append(TagWindow(
                tag=tag, volume=volume, first_half=first, second_half=second,
                posts=int(posts), authors=int(authors),
                baseline_day=_volume(day_sum) / (DAY_S // HOUR_S),
                baseline_week=_volume(week_sum) / (WEEK_S // HOUR_S)))
        return found

    async def cached(self, key: str, ttl_s: float,
                     compute: Callable[[], Awaitable[Answer]]) -> Answer:
        """The answer under ``key`` if one was stored less than ``ttl_s`` seconds ago,
        else ``compute()``'s, stored for ``ttl_s`` s. Single flight: one caller per
        process asks Redis, and one process at a time (a redis-py ``Lock``) computes;
        the others wait for its answer (at most ``CACHE_WAIT_S``, then compute it
        themselves). Raises ``DependencyUnavailable`` when Redis cannot be reached."""
        task = self._computing.get(key)
        if task is None:
            task = asyncio.create_task(self._cached(key, ttl_s, compute))
            self._computing[key] = task
            task.add_done_callback(functools.partial(self._computed, key))
        # a reader that goes away (cancelled) leaves the computation to the others
        return await asyncio.shield(task)

    def _computed(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._computing.get(key) is task:
            del self._computing[key]
        if not task.cancelled():
            task.exception()  # retrieved, even if every reader went away

    async def _cached(self, key: str, ttl_s: float,
                      compute: Callable[[], Awaitable[Answer]]) -> Answer:
        answer_key = f"{self.answers}cache:{key}"
        lock = self.redis.lock(f"{self.answers}cache-lock:{key}", timeout=CACHE_LOCK_S,
                               blocking=False, thread_local=False)
        deadline = asyncio.get_running_loop().time() + CACHE_WAIT_S
        outcome = "cached"
        try:
            while True:
                stored = await self.redis.get(answer_key)
                if stored is not None:
                    TRENDS_ANSWERS.labels(outcome).inc()
                    found: Answer = json.loads(stored)  # JSON in, the same JSON out
                    return found
                if await lock.acquire(token=uuid.uuid4().hex):
                    try:
                        # stored by a holder that released the lock since the read above
                        stored = await self.redis.get(answer_key)
                        if stored is not None:
                            TRENDS_ANSWERS.labels(outcome).inc()
                            late: Answer = json.loads(stored)
                            return late
                        answer = await _timed(compute, "computed")
                        await self.redis.set(answer_key, json.dumps(answer),
                                             px=max(1, round(ttl_s * 1000)))
                        return answer
                    finally:
                        # held past CACHE_LOCK_S, the lock is another reader's by now
                        with contextlib.suppress(redis.exceptions.LockError):
                            await lock.release()
                if asyncio.get_running_loop().time() >= deadline:
                    return await _timed(compute, "unlocked")
                outcome = "waited"
                await asyncio.sleep(CACHE_POLL_S)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise DependencyUnavailable(f"Redis: {error}") from error


async def _timed(compute: Callable[[], Awaitable[Answer]], outcome: str) -> Answer:
    with TRENDS_COMPUTE_SECONDS.time():
        answer = await compute()
    TRENDS_ANSWERS.labels(outcome).inc()
    return answer


COUNTERS = "trend:{trends}:"
"""The counters' namespace after the prefix (its hash tag: the module doc)."""


def counters_prefix(keys: RedisKeys) -> str:
    """The counters' keys' start under ``keys``."""
    return f"{keys.prefix}{COUNTERS}"


TREND_KINDS = ("trend",)
"""The first part after the prefix of the trends' keys (``infra.redis_copies``)."""


def trend_patterns(keys: RedisKeys) -> tuple[str, ...]:
    """Every key of the trends under ``keys`` (answers too: see ``is_answer``)."""
    return (f"{keys.prefix}trend:*",)


def is_answer(suffix: str) -> bool:
    """Whether a key (its part after the prefix) is a stored answer or its lock, not a
    counter."""
    return suffix.startswith(("trend:cache:", "trend:cache-lock:"))


_LIVES: dict[str, tuple[int, int]] = {
    "f": (BUCKET_S, FINE_TTL_S), "fa": (BUCKET_S, FINE_TTL_S), "ft": (BUCKET_S, FINE_TTL_S),
    "h": (HOUR_S, HOUR_HASH_TTL_S), "ha": (HOUR_S, HOUR_TTL_S), "ht": (HOUR_S, HOUR_TTL_S),
    "seen": (DAY_S, SEEN_TTL_S), "d": (DAY_S, DAY_TOTAL_TTL_S)}
"""Per kind of counter: its bucket's length and its TTL (s)."""


def outlived(suffix: str, now_s: int, margin_s: int = HOUR_S) -> bool:
    """Whether a counter (its key after the prefix: ``trend:{trends}:h:<tag>:<hour>``)
    is, or is within ``margin_s`` of, past the TTL counted from its bucket's end: the
    live copy lets such a counter expire, while a copy built now counts it again (its
    TTL runs from the build), so a comparison leaves it out."""
    if not suffix.startswith(COUNTERS):
        return False
    parts = ["trend", *suffix.removeprefix(COUNTERS).split(":")]
    lives = _LIVES.get(parts[1]) if len(parts) > 2 and parts[-1].isdigit() else None
    if lives is None:
        return False
    size, ttl = lives
    start = int(parts[-1]) * (DAY_S if parts[1] == "seen" else 1)
    return start + size + ttl <= now_s + margin_s


def best_candidates(found: Sequence[Any], limit: int) -> list[str]:
    """``candidates``' answer from a ``ZUNION ... WITHSCORES`` reply."""
    pairs = [(_text(pair[0]), float(pair[1])) for pair in found
             if isinstance(pair, tuple | list)]
    return [tag for tag, _ in sorted(pairs, key=lambda p: (-p[1], p[0]))[:limit]]


def _volume(value: float) -> float:
    """A baseline sum without the float noise of adding and subtracting (never < 0)."""
    return max(0.0, round(value, 9))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
