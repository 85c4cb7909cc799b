"""``infra.event_export`` and the CLI's pieces on the in-memory event reader (no server):
batching, both formats, row groups, stats, follow, and the progress bar only on a
terminal. The same commands against PostgreSQL: tests/integration/test_event_export.py."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import typer
from rich.console import Console

from infra.cli_events import Bar, parse_moment
from infra.event_export import EVENT_SCHEMA, export, follow, stats
from ports.event_reader import Batch, EventFilter, StoredEvent
from ports.events import EventEnvelope
from tests.fakes.event_reader import MemoryEventReader
from tests.integration.conftest import wait_until


def envelope(position: int, type_: str = "PostCreated", day: int = 1, **payload: object
             ) -> EventEnvelope:
    return EventEnvelope(position, f"id-{position}", type_, f"agg-{position}", 1,
                         f"2026-11-{day:02d}T10:00:00.000Z", 1,
                         {"author_id": 7, "text": f"post {position}", **payload})


@pytest.fixture
def reader() -> MemoryEventReader:
    return MemoryEventReader([envelope(p, "PostCreated" if p % 3 else "Liked", 1 + p % 2)
                              for p in range(1, 24)])


async def test_parquet_row_groups_hold_whole_batches_and_every_event(
        reader: MemoryEventReader, tmp_path: Path) -> None:
    out = tmp_path / "e.parquet"
    assert await export(reader, EventFilter(), "parquet", out, batch=4, row_group=10) == 23
    parquet = pq.ParquetFile(out)
    assert [parquet.metadata.row_group(i).num_rows
            for i in range(parquet.metadata.num_row_groups)] == [12, 11]
    table = parquet.read()
    assert table.schema.equals(EVENT_SCHEMA, check_metadata=False)
    assert table.column("position").to_pylist() == list(range(1, 24))
    assert table.column("account").to_pylist() == [7] * 23


async def test_jsonl_is_the_event_shape_with_the_account(reader: MemoryEventReader) -> None:
    out = io.BytesIO()
    where = EventFilter(types=frozenset({"Liked"}), after=5)
    assert await export(reader, where, "jsonl", out, batch=2) == 6
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["position"] for line in lines] == [6, 9, 12, 15, 18, 21]
    assert set(lines[0]) == {"position", "id", "type", "aggregate_id", "version",
                             "occurred_at", "schema_version", "account", "data"}
    with pytest.raises(ValueError, match="Parquet"):
        await export(reader, where, "parquet", io.BytesIO())


async def test_stats_count_by_type_and_day(reader: MemoryEventReader) -> None:
    found = await stats(reader, EventFilter(upto=10), batch=3)
    assert (found.total, found.first, found.last) == (10, 1, 10)
    assert found.by_type == {"PostCreated": 7, "Liked": 3}
    assert found.by_day == {"2026-11-01": 5, "2026-11-02": 5}


async def test_follow_stops_at_its_limit_and_keeps_following_until_stopped(
        reader: MemoryEventReader) -> None:
    seen: list[StoredEvent] = []
    assert await follow(reader, EventFilter(), seen.append, limit=5) == 5
    assert [e.position for e in seen] == [1, 2, 3, 4, 5]
    seen.clear()
    stop = asyncio.Event()
    task = asyncio.create_task(follow(reader, EventFilter(after=23), seen.append,
                                      keep_following=True, poll_s=0.01, stop=stop))
    reader.append(envelope(30))
    await wait_until(lambda: bool(seen), timeout=5, message="the new event followed")
    stop.set()
    assert await asyncio.wait_for(task, 5) == 1 and seen[0].position == 30


def test_the_progress_bar_draws_only_on_a_terminal() -> None:
    for terminal in (True, False):
        out = io.StringIO()
        console = Console(file=out, force_terminal=terminal, width=120)
        with Bar("exporting", 0, 100, console) as bar:
            bar.advance(50, 1234)
        drawn = out.getvalue()
        assert ("1,234 events" in drawn and "ETA" in drawn) is terminal
        assert drawn == "" or terminal


def test_moments_without_a_zone_are_utc_and_others_refused() -> None:
    assert parse_moment("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_moment("2026-11-30T12:00:00+01:00").utcoffset() is not None
    with pytest.raises(typer.BadParameter):
        parse_moment("yesterday")


async def test_an_interrupted_export_leaves_no_file(tmp_path: Path) -> None:
    class Failing(MemoryEventReader):
        async def read(self, where: EventFilter, after: int, limit: int) -> Batch:
            if after >= 4:
                raise RuntimeError("the database went away")
            return await super().read(where, after, limit)

    reader = Failing([envelope(p) for p in range(1, 10)])
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / f"e.{fmt}"
        with pytest.raises(RuntimeError):
            await export(reader, EventFilter(), fmt, out, batch=2)
        assert list(tmp_path.iterdir()) == []


async def test_following_ends_at_the_upper_position(reader: MemoryEventReader) -> None:
    seen: list[StoredEvent] = []
    done = await follow(reader, EventFilter(upto=4), seen.append, keep_following=True,
                        poll_s=0.01)
    assert done == 4 and [e.position for e in seen] == [1, 2, 3, 4]
