"""The raw limit of each building block, measured in the same run.

Each figure is what bare client libraries get from the same servers on the
same machine, with no Roost code in between; Roost's figures are printed as
a ratio to them. Every loop is bounded in count and time, and everything is
written to scratch keys and a scratch table that are removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import redis
import redis.asyncio as aredis

from bench.loadgen import Fleet, Kind, Workload
from bench.stats import summarize
from infra import devstack
from infra.settings import Settings

SCRATCH_TABLE = "bench_raw_events"
STATE = b"x" * 200  # an event's state is ~200 bytes of JSON


def _timed_loop(step: Callable[[], None], seconds: float, max_count: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(latencies) < max_count and time.perf_counter() < deadline:
        started = time.perf_counter()
        step()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def postgres_insert(settings: Settings, seconds: float = 3.0) -> dict[str, Any]:
    """One event-shaped row INSERT per transaction, one connection (like a command)."""
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCRATCH_TABLE} (notification_id bigserial PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version int NOT NULL, topic text NOT NULL, "
            "state bytea NOT NULL, UNIQUE (originator_id, originator_version))"
        )
        sql = (f"INSERT INTO {SCRATCH_TABLE} (originator_id, originator_version, topic, state) "
               "VALUES (%s, 1, 'domain.posts:Post.Created', %s)")

        def insert() -> None:
            with conn.transaction():
                conn.execute(sql, (uuid.uuid4(), STATE))

        _timed_loop(insert, 0.3, 200)  # warm up the plan and the connection
        started = time.perf_counter()
        latencies = _timed_loop(insert, seconds, 50_000)
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {SCRATCH_TABLE}")
    return {"tx_per_s": round(len(latencies) / elapsed), **summarize(latencies)}


def postgres_copy(settings: Settings, rows: int = 200_000) -> dict[str, Any]:
    """COPY of ``rows`` event-shaped rows into an unlogged-free scratch table in one
    transaction (the bulk write limit a rebuild's batches are measured against):
    ``{"rows_per_s", "rows"}``."""
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCRATCH_TABLE} (notification_id bigserial PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version int NOT NULL, topic text NOT NULL, "
            "state bytea NOT NULL, UNIQUE (originator_id, originator_version))"
        )
        started = time.perf_counter()
        with conn.transaction(), conn.cursor().copy(
                f"COPY {SCRATCH_TABLE} (originator_id, originator_version, topic, state) "
                "FROM STDIN") as copy:
            for _ in range(rows):
                copy.write_row((uuid.uuid4(), 1, "domain.posts:Post.Created", STATE))
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP TABLE {SCRATCH_TABLE}")
    return {"rows_per_s": round(rows / elapsed), "rows": rows}


def postgres_hydrate(settings: Settings, seconds: float = 3.0) -> dict[str, Any]:
    """The read model query a timeline page needs: 20 posts joined with authors."""
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM rm_posts ORDER BY id DESC LIMIT 2000").fetchall()]
        if len(ids) < 20:
            return {"skipped": "fewer than 20 posts in rm_posts"}
        pages = [ids[i:i + 20] for i in range(0, len(ids) - 19, 20)]
        sql = ("SELECT p.*, a.* FROM rm_posts p JOIN rm_accounts a ON a.id = p.author_id "
               "WHERE p.id = ANY(%s)")
        cursor = iter(range(10**9))

        def read() -> None:
            conn.execute(sql, (pages[next(cursor) % len(pages)],)).fetchall()

        _timed_loop(read, 0.3, 200)
        started = time.perf_counter()
        latencies = _timed_loop(read, seconds, 50_000)
        elapsed = time.perf_counter() - started
    return {"reads_per_s": round(len(latencies) / elapsed), **summarize(latencies)}


def redis_fanout(settings: Settings, sizes: tuple[int, ...], max_entries: int = 800,
                 batch: int = 1000) -> dict[str, Any]:
    """Push one id to N sorted sets (ZADD + trim, pipelines of ``batch``), bare redis-py.

    Each size is timed five times; the median is the raw counterpart of the
    fan-out lag of an author with that many followers.
    """
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_prefix}raw:home:"
    results: dict[str, Any] = {}
    try:
        for size in sizes:
            runs = []
            for attempt in range(5):
                member = f"{10**18 + attempt:019d}"
                started = time.perf_counter()
                pipe = client.pipeline(transaction=False)
                for i in range(size):
                    pipe.zadd(f"{prefix}{i}", {member: 0})
                    pipe.zremrangebyrank(f"{prefix}{i}", 0, -(max_entries + 1))
                    if (i + 1) % batch == 0:
                        pipe.execute()
                pipe.execute()
                runs.append((time.perf_counter() - started) * 1000)
            median = sorted(runs)[len(runs) // 2]
            results[str(size)] = {"ms": round(median, 3),
                                  "inserts_per_s": round(size / (median / 1000))}
    finally:
        _unlink_prefix(client, prefix)
        client.close()
    return results


def redis_page_read(settings: Settings, seconds: float = 3.0) -> dict[str, Any]:
    """ZREVRANGE 20 of an 800-entry timeline + MGET of 20 cached 500-byte posts."""
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_prefix}raw:"
    home = f"{prefix}home"
    try:
        client.zadd(home, {f"{10**18 + i:019d}": 0 for i in range(800)})
        pipe = client.pipeline(transaction=False)
        for i in range(800):
            pipe.set(f"{prefix}post:{10**18 + i:019d}", b"p" * 500)
        pipe.execute()

        def read() -> None:
            ids = client.zrange(home, 0, 19, desc=True)
            client.mget([f"{prefix}post:{_text(i)}" for i in ids])

        _timed_loop(read, 0.3, 200)
        started = time.perf_counter()
        latencies = _timed_loop(read, seconds, 100_000)
        elapsed = time.perf_counter() - started
        concurrent = asyncio.run(_concurrent_page_reads(settings, home, prefix, seconds))
    finally:
        _unlink_prefix(client, prefix)
        client.close()
    return {"sequential_reads_per_s": round(len(latencies) / elapsed),
            "reads_per_s_32_concurrent": concurrent, **summarize(latencies)}


async def _concurrent_page_reads(settings: Settings, home: str, prefix: str,
                                 seconds: float) -> int:
    client = aredis.Redis.from_url(settings.redis_url, max_connections=32)
    done = 0
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            ids = await client.zrange(home, 0, 19, desc=True)
            await client.mget([f"{prefix}post:{_text(i)}" for i in ids])
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(32)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return round(done / elapsed)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _unlink_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 1000):
        client.unlink(*keys[i:i + 1000])


def trivial_http(fleet: Fleet, rates: tuple[int, ...], step_s: float,
                 on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """A trivial FastAPI endpoint driven by the same generator, up to saturation."""
    from bench.sweeps import run_sweep

    port = devstack.free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.rawapp", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               env={**os.environ})
    try:
        devstack.wait_for_port("127.0.0.1", port, timeout=30)

        def workload(rate: int) -> Workload:
            return Workload(port, rate, step_s, (Kind("raw", 1, "GET", ("/raw",)),))

        return run_sweep(fleet, workload, rates, "raw", on_step)
    finally:
        process.terminate()
        process.wait(10)
