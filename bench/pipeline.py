"""Pipeline positions over time: event store, relay and each projector.

The relay and the worker count events in their own processes, so their
``/metrics`` counters are not visible through the API; their positions are
(``relay_positions``, ``projection_positions`` in PostgreSQL, the timeline
projector's position key in Redis), and rates and lags follow from
positions sampled over time.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

import psycopg
import redis

from bench.stats import percentile
from infra.positions import RECORDED_IN_REDIS
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from ports.projectors import PROJECTORS
from streams.relay import RELAY_NAME

COMPONENTS = ("event_store", "relay", "read_models", "timelines")


class Positions:
    """Reads every component's position with bare clients: the event store's head,
    the relay's, and each projector's where it records it (``infra.positions``)."""

    def __init__(self, settings: Settings) -> None:
        self.conn = psycopg.connect(settings.postgres_conninfo, autocommit=True)
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.keys = RedisKeys(settings.redis_prefix)

    def read(self) -> dict[str, int]:
        """``event_store``, ``relay`` and every projector of ``PROJECTORS`` recorded in
        PostgreSQL or Redis (one that records elsewhere, e.g. in its search index, is
        left out)."""
        row = self.conn.execute(
            "SELECT (SELECT COALESCE(MAX(notification_id), 0) FROM roost_events), "
            "(SELECT COALESCE(MAX(position), 0) FROM relay_positions)"
        ).fetchone()
        assert row is not None
        found = {"event_store": int(row[0]), "relay": int(row[1])}
        recorded: dict[str, int] = dict(self.conn.execute(
            "SELECT name, position FROM projection_positions").fetchall())
        for name in PROJECTORS:
            if name in RECORDED_IN_REDIS:
                found[name] = int(self.redis.get(self.keys.projection_position(name)) or 0)
            elif name in recorded:
                found[name] = int(recorded[name])
        return found

    def close(self) -> None:
        self.conn.close()
        self.redis.close()


class Sampler:
    """Samples positions every ``interval_s`` in a thread, for at most ``max_s``."""

    def __init__(self, settings: Settings, interval_s: float = 0.1, max_s: float = 3600) -> None:
        self.positions = Positions(settings)
        self.interval_s = interval_s
        self.max_s = max_s
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.positions.close()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.samples.append((time.perf_counter(), self.positions.read()))
            self._stop.wait(self.interval_s)

    def summary(self) -> dict[str, Any]:
        return summarize_samples(self.samples)

    def reached(self, position: int, after: float) -> dict[str, float | None]:
        """Seconds from ``after`` until each component first showed ``position``."""
        found: dict[str, float | None] = {}
        for name in COMPONENTS[1:]:
            found[name] = next((t - after for t, s in list(self.samples)
                                if s[name] >= position), None)
        return found


def summarize_samples(samples: list[tuple[float, dict[str, int]]]) -> dict[str, Any]:
    """Events/s of each component and its lag behind the event store, in time.

    The lag of a component at sample ``t`` with position ``p`` is ``t`` minus
    the first sample time at which the event store had reached ``p + 1``
    (the oldest event it had not applied yet); 0 if it was caught up.
    """
    if len(samples) < 2:
        return {}
    (t0, first), (t1, last) = samples[0], samples[-1]
    elapsed = max(1e-6, t1 - t0)
    times = [t for t, _ in samples]
    store = [s["event_store"] for _, s in samples]
    result: dict[str, Any] = {"seconds": round(elapsed, 2),
                              "events": last["event_store"] - first["event_store"]}
    for name in COMPONENTS:
        rate = (last[name] - first[name]) / elapsed
        lags_s: list[float] = []
        lags_events: list[int] = []
        for t, sample in samples:
            behind = max(0, sample["event_store"] - sample[name])
            lags_events.append(behind)
            if behind == 0:
                lags_s.append(0.0)
                continue
            at = bisect.bisect_left(store, sample[name] + 1)
            lags_s.append(t - times[at] if at < len(times) else 0.0)
        ordered = sorted(lags_s)
        result[name] = {
            "events_per_s": round(rate, 1),
            "lag_s_p50": round(percentile(ordered, 50), 3),
            "lag_s_p99": round(percentile(ordered, 99), 3),
            "lag_s_max": round(ordered[-1], 3),
            "lag_events_max": max(lags_events),
        }
    return result


def wait_caught_up(settings: Settings, timeout_s: float,
                   advance: Any = lambda done, total: None,
                   sampler: Sampler | None = None,
                   alive: Any = lambda: None) -> dict[str, Any]:
    """Block until the relay and both projectors reach the event store; everyone's
    catch-up rate.

    Pass a ``sampler`` started *before* the stack to see the relay's catch-up too.
    """
    own = sampler is None
    trace = sampler or Sampler(settings, interval_s=0.25, max_s=timeout_s + 5).__enter__()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            alive()
            if not trace.samples:
                continue
            now = trace.samples[-1][1]
            slowest = min(now["relay"], now["read_models"], now["timelines"])
            advance(slowest, now["event_store"])
            if slowest >= now["event_store"]:
                break
        samples = list(trace.samples)
    finally:
        if own:
            trace.__exit__()
    return catch_up_summary(samples)


def catch_up_summary(samples: list[tuple[float, dict[str, int]]]) -> dict[str, Any]:
    """Each component's rate from the first sample until it reached the final store."""
    summary = summarize_samples(samples)
    if not samples:
        return {"caught_up": False}
    t0, first = samples[0]
    target = samples[-1][1]["event_store"]
    for name in COMPONENTS[1:]:
        reached = next((t for t, s in samples if s[name] >= target), samples[-1][0])
        done = min(target, samples[-1][1][name]) - first[name]
        summary[name]["catch_up_events"] = done
        summary[name]["catch_up_seconds"] = round(reached - t0, 2)
        summary[name]["catch_up_events_per_s"] = round(done / max(1e-6, reached - t0), 1)
    last = samples[-1][1]
    summary["caught_up"] = min(last["relay"], last["read_models"], last["timelines"]
                               ) >= last["event_store"]
    return summary


def mark_published(settings: Settings, position: int) -> None:
    """Start the relay at ``position``: the events up to it count as published."""
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO relay_positions (name, position) VALUES (%s, %s) "
                     "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                     (RELAY_NAME, position))
