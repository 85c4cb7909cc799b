"""Memory: Redis bytes per entry by key family, PostgreSQL bytes per row, process RSS."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import redis
from psycopg import sql

from bench.stack import descendants, rss_bytes
from infra.copies import READ_MODEL_COPIES, copy_label
from infra.settings import Settings
from ports.projectors import READ_MODELS

SAMPLE_KEYS = 200
MAX_SCANNED = 2_000_000
_CARD = {b"zset": "zcard", b"set": "scard", b"hash": "hlen", b"list": "llen"}


def redis_families(settings: Settings) -> dict[str, Any]:
    """Keys under the run's prefix grouped by family (``home``, ``post``...),
    with sampled ``MEMORY USAGE`` per key and per entry."""
    client = redis.Redis.from_url(settings.redis_url)
    prefix = settings.redis_prefix
    counts: Counter[str] = Counter()
    samples: dict[str, list[bytes]] = {}
    try:
        for scanned, key in enumerate(client.scan_iter(match=f"{prefix}*", count=2000)):
            if scanned >= MAX_SCANNED:
                break
            family = key[len(prefix):].split(b":", 1)[0].decode(errors="replace")
            if family == "raw":
                continue
            counts[family] += 1
            picked = samples.setdefault(family, [])
            if len(picked) < SAMPLE_KEYS:
                picked.append(key)
        families: dict[str, Any] = {}
        for family, keys in samples.items():
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.memory_usage(key, samples=0)
                pipe.type(key)
            answers = pipe.execute()
            sizes = [int(a or 0) for a in answers[0::2]]
            types = answers[1::2]
            pipe = client.pipeline(transaction=False)
            for key, kind in zip(keys, types, strict=True):
                command = _CARD.get(kind)
                if command:
                    getattr(pipe, command)(key)
                else:
                    pipe.exists(key)
            entries = [int(e or 0) for e in pipe.execute()]
            per_key = sum(sizes) / len(sizes)
            families[family] = {
                "keys": counts[family],
                "type": (types[0] or b"?").decode() if types else "?",
                "bytes_per_key": round(per_key),
                "entries_per_key": round(sum(entries) / len(entries), 1),
                "bytes_per_entry": round(sum(sizes) / max(1, sum(entries)), 1),
                "estimated_total_bytes": round(per_key * counts[family]),
            }
        info = client.info("memory")
        return {"families": families, "used_memory": info.get("used_memory"),
                "used_memory_rss": info.get("used_memory_rss")}
    finally:
        client.close()


def postgres_sizes(settings: Settings) -> dict[str, Any]:
    """Bytes per row (table + indexes + TOAST) of the event store and the read models
    (the live copy's tables, ``rm_v<N>``: ``infra.copies``)."""
    result: dict[str, Any] = {}
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        live = conn.execute("SELECT live_copy FROM projection_copies WHERE name = %s",
                            (READ_MODELS,)).fetchone()
        schema = READ_MODEL_COPIES.schema(copy_label(int(live[0]) if live else 1))
        tables = [(str(r[0]), str(r[1])) for r in conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE (schemaname = 'public' "
            "AND tablename = 'roost_events') OR (schemaname = %s AND tablename LIKE 'rm\\_%%') "
            "ORDER BY tablename", (schema,)).fetchall()]
        for namespace, table in tables:
            name = sql.Identifier(namespace, table)
            row = conn.execute(
                sql.SQL("SELECT pg_total_relation_size(%s::regclass), (SELECT count(*) FROM {})"
                        ).format(name), (name.as_string(conn),)).fetchone()
            assert row is not None
            size, rows = int(row[0]), int(row[1])
            result[table] = {"rows": rows, "bytes": size,
                             "bytes_per_row": round(size / rows, 1) if rows else None}
    return result


def process_memory(pids: dict[str, int]) -> dict[str, Any]:
    """Current and peak resident memory of each process (noida-db and the API with
    their children: the API's serving processes when it runs several; the peak is the
    sum of each process's own peak)."""
    result: dict[str, Any] = {}
    for name, pid in pids.items():
        family = name in ("noida-db", "api")
        peak = _peak(pid) + (sum(_peak(c) for c in descendants(pid)) if name == "api" else 0)
        result[name] = {"rss_bytes": rss_bytes(pid, with_children=family),
                        "peak_rss_bytes": peak}
    return result


def _peak(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
