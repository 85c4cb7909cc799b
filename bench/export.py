"""``python -m bench.export``: how fast ``roost events export`` reads the event store.

Loads a generated graph through the command layer into a database of its own (or
reuses a kept one), then exports every event to JSON Lines and to Parquet the way
``roost events export`` does (batched keyset reads through
``infra.event_reader``, envelopes decoded, files written), and prints events/s
of each beside the raw limits of the blocks underneath, measured in the same run:
PostgreSQL streaming the same table's rows with ``COPY (SELECT ...) TO STDOUT``
(no decoding), and the log read and decoded by position as a rebuild reads it
(``bench.catchup.read_log``: decoding, no file). Also times a filtered export (one
event type, one account), the stats pass and ``roost timeline show`` of one account
at the head (the timeline projector over every event, in memory) and, with
``--replay``, ``roost events replay`` into a broker of its own beside a bare producer
sending as many records of the same size. Never asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Column, Table

from bench.catchup import bench_database, graph_arguments, read_log, wide_console
from infra import devstack
from infra.event_export import BATCH, export, replay, stats
from infra.event_reader import open_event_reader
from infra.kafka import ensure_topic, make_producer
from infra.settings import Settings
from infra.timeline_at import timeline_at
from ports.event_reader import EventFilter


def parse(argv: list[str]) -> argparse.Namespace:
    parser = graph_arguments(argparse.ArgumentParser(prog="python -m bench.export",
                                                     description=__doc__))
    parser.add_argument("--batch", type=int, default=BATCH, help="events per read")
    parser.add_argument("--replay", action="store_true",
                        help="also time `roost events replay` of every event into a noida "
                             "broker it starts, beside a bare producer's rate")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and keys, to --reuse them")
    parser.add_argument("--reuse", metavar="RUN",
                        help="export from a kept run's database (roost_bench_RUN), no load "
                             "(bench.catchup's kept runs too)")
    return parser.parse_args(argv)


def raw_copy(settings: Settings) -> dict[str, Any]:
    """Rows/s and MB/s of ``COPY (SELECT <the columns an export reads>) TO STDOUT`` of the
    whole events table, read to the end on one connection."""
    rows = size = 0
    started = time.perf_counter()
    with psycopg.connect(settings.postgres_conninfo) as conn, conn.cursor() as cur, cur.copy(
            "COPY (SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM roost_events ORDER BY notification_id) TO STDOUT") as copy:
        for chunk in copy:
            size += len(chunk)
            rows += bytes(chunk).count(b"\n")
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "per_s": round(rows / seconds),
            "mb_per_s": round(size / seconds / 1e6, 1)}


async def timed_exports(settings: Settings, batch: int, out: Path) -> list[dict[str, Any]]:
    reader = await open_event_reader(settings)
    results: list[dict[str, Any]] = []
    try:
        account = await reader.account_id("b000000")  # bench.graph's first account
        runs: list[tuple[str, str, EventFilter]] = [
            ("jsonl", "all events", EventFilter()),
            ("parquet", "all events", EventFilter()),
            ("parquet", "--type PostCreated", EventFilter(types=frozenset({"PostCreated"}))),
        ]
        if account is not None:
            runs.append(("parquet", "--account b000000", EventFilter(account_id=account)))
        for fmt, label, where in runs:
            path = out / f"events.{fmt}"
            started = time.perf_counter()
            cpu = time.process_time()
            written = await export(reader, where, "parquet" if fmt == "parquet" else "jsonl",
                                   path, batch=batch)
            seconds = time.perf_counter() - started
            results.append({"what": f"export {fmt}, {label}", "events": written,
                            "seconds": round(seconds, 2),
                            "per_s": round(written / seconds) if seconds else 0,
                            "cpu_s": round(time.process_time() - cpu, 2),
                            "mb": round(path.stat().st_size / 1e6, 1)})
        started = time.perf_counter()
        cpu = time.process_time()
        counted = await stats(reader, EventFilter(), batch=batch)
        seconds = time.perf_counter() - started
        results.append({"what": "stats, all events", "events": counted.total,
                        "seconds": round(seconds, 2), "per_s": round(counted.total / seconds),
                        "cpu_s": round(time.process_time() - cpu, 2), "mb": 0.0})
        reader_id = await reader.account_id("b000001")
        if reader_id is not None:
            started = time.perf_counter()
            cpu = time.process_time()
            page = await timeline_at(reader, reader_id, EventFilter(), limit=20,
                                     max_entries=settings.timeline_max_entries,
                                     backfill=settings.follow_backfill,
                                     celebrity_threshold=settings.celebrity_threshold)
            seconds = time.perf_counter() - started
            results.append({"what": "timeline show b000001 (now)", "events": page.events,
                            "seconds": round(seconds, 2),
                            "per_s": round(page.events / seconds),
                            "cpu_s": round(time.process_time() - cpu, 2), "mb": 0.0})
    finally:
        await reader.close()
    return results


async def timed_replay(settings: Settings, batch: int) -> list[dict[str, Any]]:
    """``replay`` of every event to a new topic, then the raw limit underneath: the same
    producer sending the same number of envelope-sized records, pre-encoded, in the same
    batches (send all, await their acknowledgements), to another new topic."""
    reader = await open_event_reader(settings)
    results: list[dict[str, Any]] = []
    producer = make_producer(settings)
    await producer.start()
    try:
        started = time.perf_counter()
        cpu = time.process_time()
        sent = await replay(reader, EventFilter(), settings, "bench.replay", producer,
                            "bench", batch=batch)
        seconds = time.perf_counter() - started
        results.append({"what": "replay --to-topic, all events", "events": sent,
                        "seconds": round(seconds, 2), "per_s": round(sent / seconds),
                        "cpu_s": round(time.process_time() - cpu, 2), "mb": 0.0})
        first = (await reader.read(EventFilter(), 0, 1)).events
        value = first[0].envelope.to_json() if first else b"{}"
        await ensure_topic(settings.model_copy(update={"kafka_topic": "bench.raw",
                                                       "kafka_partitions": 1}))
        started = time.perf_counter()
        cpu = time.process_time()
        for start in range(0, sent, batch):
            acks = [await producer.send("bench.raw", value=value, key=b"k")
                    for _ in range(min(batch, sent - start))]
            await asyncio.gather(*acks)
        seconds = time.perf_counter() - started
        results.append({"what": "raw: bare producer, same records", "events": sent,
                        "seconds": round(seconds, 2), "per_s": round(sent / seconds),
                        "cpu_s": round(time.process_time() - cpu, 2), "mb": 0.0})
    finally:
        await producer.stop()
        await reader.close()
    return results


def replay_rates(settings: Settings, batch: int, console: Console) -> None:
    """Start a noida broker of its own, time the replay and the bare producer, print."""
    with tempfile.TemporaryDirectory(prefix="roost-bench-replay-") as work:
        kafka_port, es_port = devstack.free_port(), devstack.free_port()
        broker = devstack.start_noida(Path(work) / "noida", kafka_port, es_port,
                                      Path(work) / "noida.log")
        try:
            results = asyncio.run(timed_replay(settings.model_copy(update={
                "kafka_bootstrap": f"127.0.0.1:{kafka_port}"}), batch))
        finally:
            devstack.stop(broker)
    table = Table(*(Column(name, justify="right") for name in
                    ("what", "events", "seconds", "events/s", "CPU s", "vs raw producer")),
                  title="replay to a Kafka topic (noida-db, one partition)")
    raw = results[-1]["per_s"]
    for r in results:
        table.add_row(r["what"], f"{r['events']:,}", f"{r['seconds']:.2f}",
                      f"{r['per_s']:,}", f"{r['cpu_s']:.1f}",
                      f"{r['per_s'] / max(1, raw):.2f}x of {raw:,}/s")
    console.print(table)


def main(argv: list[str]) -> int:
    args = parse(argv)
    console = wide_console()
    with bench_database(args, console) as settings:
        raw = raw_copy(settings)
        log_read = asyncio.run(read_log(settings))
        with tempfile.TemporaryDirectory(prefix="roost-bench-export-") as out:
            results = asyncio.run(timed_exports(settings, args.batch, Path(out)))
        columns = ("what", "events", "seconds", "events/s", "rows scanned/s", "CPU s",
                   "file MB", "scanned vs raw COPY", "scanned vs log read")
        table = Table(*(Column(name, justify="right") for name in columns),
                      title=f"event export, batches of {args.batch} "
                            f"({raw['rows']:,} events in the store)")
        rows = [(r, round(raw["rows"] / r["seconds"]) if r["seconds"] else 0) for r in results]
        for r, scanned in rows:
            table.add_row(r["what"], f"{r['events']:,}", f"{r['seconds']:.2f}",
                          f"{r['per_s']:,}", f"{scanned:,}", f"{r['cpu_s']:.1f}",
                          f"{r['mb']:.1f}",
                          f"{scanned / max(1, raw['per_s']):.2f}x of {raw['per_s']:,}/s",
                          f"{scanned / max(1, log_read['per_s']):.2f}x of "
                          f"{log_read['per_s']:,}/s")
        table.add_row("raw: COPY (SELECT ...) TO STDOUT", f"{raw['rows']:,}",
                      f"{raw['seconds']:.2f}", f"{raw['per_s']:,}", f"{raw['per_s']:,}", "",
                      "", f"{raw['mb_per_s']} MB/s", "")
        table.add_row("raw: log read and decoded by position", f"{log_read['events']:,}",
                      "", f"{log_read['per_s']:,}", f"{log_read['per_s']:,}", "", "", "", "")
        table.caption = ("raw limits, this run, before the exports: PostgreSQL streaming the "
                         "same rows and columns with COPY, one connection, no decoding; the "
                         "log read and decoded by position in pages of "
                         f"{settings.rebuild_page:,} (bench.catchup's, what a rebuild reads)")
        console.print(table)
        if args.replay:
            replay_rates(settings, args.batch, console)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
