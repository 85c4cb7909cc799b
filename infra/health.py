"""What ``/health`` concludes from positions and heartbeats, apart from HTTP.

A part is failing when it is gone (no heartbeat), not consuming (its loops
report no progress), or stuck: its position has not advanced for
``max_stall_s`` seconds while more than ``max_lag`` events wait for it. A
backlog that is being worked off is healthy as long as the position moves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

OK = "ok"


@dataclass
class _Seen:
    position: int
    since: float  # monotonic s: when the position last moved, or events started to wait


class ProgressTracker:
    """Remembers, per part, since when it has been waiting with no progress."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def stalled_for(self, part: str, position: int, lag: int, max_lag: int,
                    now: float | None = None) -> float:
        """Seconds ``part`` has stood at ``position`` while more than ``max_lag`` events
        waited (0.0 when it moved since the last look, or is within ``max_lag``)."""
        now = time.monotonic() if now is None else now
        seen = self._seen.get(part)
        if seen is None or seen.position != position or lag <= max_lag:
            self._seen[part] = _Seen(position, now)
            return 0.0
        return now - seen.since


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
    fields are ``silent: {loop: seconds}``, the relay's ``position``."""
    await client.set(key, orjson.dumps({"at": time.time(), **fields}), px=int(ttl_s * 1000))


def heartbeat_verdict(part: str, raw: bytes | str | None) -> str:
    """From a heartbeat key's value: gone (no key), not consuming (loops silent), or ok.

    The value is ``{"at": unix s, "silent": {loop: seconds}}`` (older workers wrote a
    bare timestamp, read as ok)."""
    if raw is None:
        return f"error: no {part} has reported lately (heartbeat expired: not running?)"
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return OK
    silent = body.get("silent") if isinstance(body, dict) else None
    if silent:
        loops = ", ".join(f"{name} for {age:.0f}s" for name, age in sorted(silent.items()))
        return f"error: {part} is not consuming: no progress in {loops}"
    return OK
