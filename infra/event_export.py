"""What ``roost events`` does with the stream it reads: export, stats, tail, replay.

Everything reads through ``ports.event_reader.EventReader`` one batch at a time and
hands each batch on before reading the next, so memory holds one batch (and, for
Parquet, one row group) whatever the range. Long work reports to a ``Meter``
(``infra.cli_events`` draws it as a progress bar with rate and ETA on a terminal).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from aiokafka import AIOKafkaProducer

from infra.eventlog import STORE_HEADER
from infra.kafka import ensure_topic
from infra.settings import Settings
from ports.event_reader import EventFilter, EventReader, StoredEvent, day_of

BATCH = 5000
"""Events per read (one keyset statement)."""
ROW_GROUP = 100_000
"""Rows per Parquet row group (at least; whole batches): what an export holds in memory
at most, besides one batch."""

Format = Literal["jsonl", "parquet"]

EVENT_SCHEMA = pa.schema([
    pa.field("position", pa.int64(), nullable=False),
    pa.field("id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("aggregate_id", pa.string(), nullable=False),
    pa.field("version", pa.int64(), nullable=False),
    pa.field("occurred_at", pa.timestamp("ms", tz="UTC")),
    pa.field("schema_version", pa.int32(), nullable=False),
    pa.field("account", pa.int64()),
    pa.field("data", pa.string(), nullable=False),
])
"""One row per event: API.md's Event envelope as typed columns, ``account`` (the
account that caused the event, null when unknown) and ``data``, the payload as JSON
text (DuckDB: ``data->>'$.text'``; pandas: ``json.loads``)."""


class Meter(Protocol):
    """Told how far a long read got: ``advance(scanned_to, events)`` after each batch."""

    def advance(self, scanned_to: int, events: int) -> None: ...


class _Silent:
    def advance(self, scanned_to: int, events: int) -> None:
        return None


SILENT: Meter = _Silent()


async def batches(reader: EventReader, where: EventFilter, *, size: int = BATCH,
                  meter: Meter = SILENT) -> AsyncIterator[list[StoredEvent]]:
    """The events ``where`` selects, batch by batch, oldest first, up to the end."""
    after = where.after
    while True:
        batch = await reader.read(where, after, size)
        after = batch.scanned_to
        meter.advance(after, len(batch.events))
        if batch.events:
            yield batch.events
        if batch.done:
            return


def jsonl_line(event: StoredEvent) -> bytes:
    """One JSON Lines record: the Event shape with ``account`` (``StoredEvent.as_event``)."""
    return orjson.dumps(event.as_event()) + b"\n"


def arrow_batch(events: list[StoredEvent]) -> pa.RecordBatch:
    """The events as a record batch of ``EVENT_SCHEMA``."""
    envelopes = [e.envelope for e in events]
    occurred = pa.array([e.occurred_at or None for e in envelopes], pa.string())
    return pa.RecordBatch.from_arrays([
        pa.array([e.position for e in envelopes], pa.int64()),
        pa.array([e.event_id for e in envelopes], pa.string()),
        pa.array([e.type for e in envelopes], pa.string()),
        pa.array([e.aggregate_id for e in envelopes], pa.string()),
        pa.array([e.aggregate_version for e in envelopes], pa.int64()),
        pc.cast(occurred, pa.timestamp("ms", tz="UTC")),
        pa.array([e.schema_version for e in envelopes], pa.int32()),
        pa.array([e.account for e in events], pa.int64()),
        pa.array([orjson.dumps(e.payload).decode() for e in envelopes], pa.string()),
    ], schema=EVENT_SCHEMA)


async def export(reader: EventReader, where: EventFilter, fmt: Format,
                 out: Path | IO[bytes], *, meter: Meter = SILENT, batch: int = BATCH,
                 row_group: int = ROW_GROUP) -> int:
    """Write the events ``where`` selects to ``out`` (a path, or a binary stream for JSON
    Lines) in ``fmt``; how many were written. A file is written as ``<out>.part`` and
    renamed to ``out`` only when complete (an interrupted export leaves no file that
    looks whole); Parquet row group by row group (zstd).

    Raises:
        ValueError: Parquet asked for on a stream.
    """
    if not isinstance(out, Path):
        if fmt != "jsonl":
            raise ValueError("Parquet is written to a file (--output PATH)")
        return await _export_jsonl(reader, where, out, meter, batch)
    part = out.with_name(out.name + ".part")
    try:
        if fmt == "jsonl":
            with part.open("wb") as stream:
                written = await _export_jsonl(reader, where, stream, meter, batch)
        else:
            written = await _export_parquet(reader, where, part, meter, batch, row_group)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(out)
    return written


async def _export_parquet(reader: EventReader, where: EventFilter, out: Path, meter: Meter,
                          batch: int, row_group: int) -> int:
    written = 0
    pending: list[pa.RecordBatch] = []
    rows = 0
    with pq.ParquetWriter(out, EVENT_SCHEMA, compression="zstd") as writer:
        async for events in batches(reader, where, size=batch, meter=meter):
            pending.append(arrow_batch(events))
            rows += len(events)
            written += len(events)
            if rows >= row_group:  # one row group of whole batches
                writer.write_table(pa.Table.from_batches(pending), row_group_size=rows)
                pending, rows = [], 0
        if pending or written == 0:
            writer.write_table(pa.Table.from_batches(pending, schema=EVENT_SCHEMA),
                               row_group_size=max(rows, 1))
    return written


async def _export_jsonl(reader: EventReader, where: EventFilter, stream: IO[bytes],
                        meter: Meter, batch: int) -> int:
    written = 0
    async for events in batches(reader, where, size=batch, meter=meter):
        stream.write(b"".join(jsonl_line(e) for e in events))
        written += len(events)
    stream.flush()
    return written


@dataclass
class Stats:
    """Counts of the selected events: in all, by type and by UTC day (``YYYY-MM-DD``)."""

    total: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_day: Counter[str] = field(default_factory=Counter)
    first: int | None = None
    last: int | None = None


async def stats(reader: EventReader, where: EventFilter, *, meter: Meter = SILENT,
                batch: int = BATCH) -> Stats:
    """Count the events ``where`` selects by type and by day (memory: one counter per
    distinct type and day)."""
    found = Stats()
    async for events in batches(reader, where, size=batch, meter=meter):
        for event in events:
            found.by_type[event.envelope.type] += 1
            found.by_day[day_of(event.envelope.occurred_at) or "unknown"] += 1
        found.total += len(events)
        found.first = found.first if found.first is not None else events[0].position
        found.last = events[-1].position
    return found


async def follow(reader: EventReader, where: EventFilter, emit: Callable[[StoredEvent], None],
                 *, limit: int | None = None, keep_following: bool = False,
                 poll_s: float = 0.5, stop: asyncio.Event | None = None) -> int:
    """Hand each selected event to ``emit`` in order: up to ``limit`` (None: all), and
    with ``keep_following``, on past the end as new events are stored, polling every
    ``poll_s`` seconds (a replica sends no notifications) until ``stop`` is set.
    How many were emitted."""
    stop = stop or asyncio.Event()
    emitted = 0
    after = where.after
    while not stop.is_set():
        want = BATCH if limit is None else min(BATCH, limit - emitted)
        batch = await reader.read(where, after, want)
        after = batch.scanned_to
        for event in batch.events:
            emit(event)
        emitted += len(batch.events)
        if limit is not None and emitted >= limit:
            break
        if batch.done:
            if not keep_following or after >= where.upto:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_s)
            except TimeoutError:
                continue
    return emitted


REPLAY_HEADER = "roost-replay"
"""A Kafka header on every replayed record (``1``): told apart from the relay's."""


async def replay(reader: EventReader, where: EventFilter, settings: Settings, topic: str,
                 producer: AIOKafkaProducer, store: str, *, meter: Meter = SILENT,
                 batch: int = BATCH) -> int:
    """Publish the selected events to ``topic`` as the relay publishes (the envelope JSON,
    keyed by aggregate id, header ``roost-store``), plus ``roost-replay: 1``, in position
    order: each batch is handed to the producer (which batches; idempotent, so order
    holds through retries; acks from all replicas); its acknowledgements are awaited
    once the next batch has been read and handed over (at most two batches in flight),
    so reading and the broker's round trips overlap. A
    topic created here has one partition, so the replay keeps the global order; on a
    topic with more, the key keeps each aggregate's events in order.

    Raises:
        ValueError: ``topic`` is the projectors' topic (``settings.kafka_topic``).
    """
    if topic == settings.kafka_topic:
        raise ValueError(f"refusing to replay into {topic!r}: the projectors consume it")
    await ensure_topic(settings.model_copy(update={"kafka_topic": topic,
                                                   "kafka_partitions": 1}), exact=False)
    headers = [(STORE_HEADER, store.encode()), (REPLAY_HEADER, b"1")]
    sent = 0
    in_flight: asyncio.Future[list[object]] | None = None
    async for events in batches(reader, where, size=batch, meter=meter):
        acks = [await producer.send(topic, value=e.envelope.to_json(),
                                    key=e.envelope.aggregate_id.encode(), headers=headers)
                for e in events]
        if in_flight is not None:  # the batch before, acknowledged while this one was read
            await in_flight
        in_flight = asyncio.gather(*acks)
        sent += len(events)
    if in_flight is not None:
        await in_flight
    return sent
