"""What ``/health`` concludes from positions and heartbeats, apart from HTTP.

A part is failing when it is gone (no heartbeat), not consuming (its loops
report no progress), or stuck: its position has not advanced for
``max_stall_s`` seconds while more than ``max_lag`` events wait for it. A
backlog that is being worked off is healthy as long as the position moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from infra.redis_clients import is_cluster

OK = "ok"


@dataclass
class _Seen:
    position: int
    since: float  # s (monotonic, or Redis TIME when shared): when the position last moved,
    # or events started to wait


def _look(seen: _Seen | None, position: int, lag: int, max_lag: int, now: float
          ) -> tuple[_Seen, float]:
    """What a look at a part at ``now`` remembers, and for how long it has stalled."""
    if seen is None or seen.position != position or lag <= max_lag:
        return _Seen(position, now), 0.0
    return seen, now - seen.since


class ProgressTracker:
    """Remembers, per part, since when it has been waiting with no progress."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def stalled_for(self, part: str, position: int, lag: int, max_lag: int,
                    now: float | None = None) -> float:
        """Seconds ``part`` has stood at ``position`` while more than ``max_lag`` events
        waited (0.0 when it moved since the last look, or is within ``max_lag``)."""
        now = time.monotonic() if now is None else now
        self._seen[part], stalled = _look(self._seen.get(part), position, lag, max_lag, now)
        return stalled


class SharedProgress:
    """``ProgressTracker``'s memory kept in Redis, so that every API process judges a
    part from the same looks: ``/health`` says the same whichever process answers, and
    a stall counts from the first look of any of them.

    ``key`` is a hash: part -> ``"<position>:<since>"``, ``since`` in seconds of Redis's
    clock (``TIME``, so that processes on several machines agree), expiring a day after
    the last change. While Redis does not answer, this process's own memory is used
    (``/health`` then fails for Redis anyway).
    """

    TTL_S = 86_400

    def __init__(self, redis: Redis, key: str) -> None:
        self.redis = redis
        self.key = key
        self.local = ProgressTracker()

    async def stalled(self, looks: dict[str, tuple[int, int]], max_lag: int,
                      now: float | None = None) -> dict[str, float]:
        """For each part, ``looks[part] = (position, lag)``: seconds it has stalled (as
        ``ProgressTracker.stalled_for``). Two round trips at most; ``now`` replaces
        Redis's clock (tests)."""
        try:
            return await self._stalled(looks, max_lag, now)
        except RedisError:
            when = time.monotonic() if now is None else now
            return {part: self.local.stalled_for(part, position, lag, max_lag, when)
                    for part, (position, lag) in looks.items()}

    async def _stalled(self, looks: dict[str, tuple[int, int]], max_lag: int,
                       now: float | None) -> dict[str, float]:
        stored: dict[Any, Any]
        if is_cluster(self.redis):  # a cluster pipeline refuses TIME (it names no key)
            seconds, micros = await self.redis.time()
            stored = await self.redis.hgetall(self.key)
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.time()
                pipe.hgetall(self.key)
                (seconds, micros), stored = await pipe.execute()
        if now is None:
            now = seconds + micros / 1e6
        changed: dict[FieldT, EncodableT] = {}
        stalled: dict[str, float] = {}
        for part, (position, lag) in looks.items():
            before = _parse_seen(cast("bytes | None", stored.get(part.encode())))
            seen, stalled[part] = _look(before, position, lag, max_lag, now)
            if seen != before:
                changed[part] = f"{seen.position}:{seen.since}"
        if changed:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.key, mapping=changed)
                pipe.expire(self.key, self.TTL_S)
                await pipe.execute()
        return stalled


def _parse_seen(raw: bytes | None) -> _Seen | None:
    if raw is None:
        return None
    position, _, since = raw.decode().partition(":")
    try:
        return _Seen(int(position), float(since))
    except ValueError:
        return None


def progress_verdict(part: str, position: int, head: int, stalled_for: float,
                     max_stall_s: float) -> str:
    """``"ok"``, or ``"error: ..."`` saying how long ``part`` has been stuck and how far
    behind ``head`` (the event store's newest position) it is, or that it is ahead
    of ``head`` (it applied what this store does not hold: never healthy)."""
    lag = max(0, head - position)
    if position > head:
        return (f"error: {part} is at {position}, ahead of the event store at {head}: it "
                "applied events that are not in this store (another store's, on a shared "
                "Kafka topic?); rebuild it")
    if stalled_for >= max_stall_s:
        return (f"error: {part} has not advanced for {stalled_for:.0f}s while {lag} events "
                f"wait (at {position}, event store at {head})")
    return OK


async def write_heartbeat(client: Redis, key: str, ttl_s: float, **fields: object) -> None:
    """``{"at": <unix s>, **fields}`` at ``key``, expiring after ``ttl_s``: the worker's
    fields are ``silent: {loop: seconds}``, the relay's ``position`` and, while its
    attempts fail, ``failing`` (the last error, at most ``FAILING_MAX_CHARS``)."""
    await client.set(key, orjson.dumps({"at": time.time(), **fields}), px=int(ttl_s * 1000))


FAILING_MAX_CHARS = 300
"""How much of a part's last error its heartbeat carries (and /health shows)."""


def heartbeat_verdict(part: str, raw: bytes | str | None) -> str:
    """From a heartbeat key's value: gone (no key), failing (its last attempt failed),
    not consuming (loops silent), or ok.

    The value is ``{"at": unix s, "silent": {loop: seconds}, "failing": error}`` (older
    workers wrote a bare timestamp, read as ok)."""
    if raw is None:
        return f"error: no {part} has reported lately (heartbeat expired: not running?)"
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return OK
    if isinstance(body, dict) and body.get("failing"):
        return f"error: {part} is failing: {str(body['failing'])[:FAILING_MAX_CHARS]}"
    silent = body.get("silent") if isinstance(body, dict) else None
    if silent:
        loops = ", ".join(f"{name} for {age:.0f}s" for name, age in sorted(silent.items()))
        return f"error: {part} is not consuming: no progress in {loops}"
    return OK
