"""``roost events export / stats / tail / replay`` against the real event store (and the
noida Kafka-compatible broker for replay): each filter, both formats, read back with
pyarrow, DuckDB and pandas."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from commands.messages import CreatePost
from domain.ids import account_uuid
from infra.bootstrap import build_command_bus, close_command_bus
from infra.cli import app
from infra.event_export import EVENT_SCHEMA, REPLAY_HEADER, export, follow
from infra.event_reader import PostgresEventReader, open_event_reader
from infra.eventlog import STORE_HEADER
from infra.settings import Settings
from ports.event_reader import EventFilter, StoredEvent, matches
from ports.events import EventEnvelope
from tests.contracts.event_reader import read_all, write_history
from tests.integration.conftest import SettingsFactory, wait_until
from tests.integration.pipeline import post
from tests.integration.test_relay import read_topic
from tests.poison import poison_events
from tests.poison import store as store_poison


@pytest.fixture
def history_settings(settings_factory: SettingsFactory, noida: dict[str, str]
                     ) -> Iterator[tuple[Settings, dict[str, Any]]]:
    settings = settings_factory(kafka_bootstrap=noida["kafka_bootstrap"])
    bus = build_command_bus(settings)
    try:
        actors = write_history(bus)
        yield settings, {"bus": bus, "actors": actors}
    finally:
        close_command_bus(bus)


@pytest.fixture
async def reader(history_settings: tuple[Settings, dict[str, Any]]
                 ) -> AsyncIterator[PostgresEventReader]:
    opened = await open_event_reader(history_settings[0])
    try:
        yield opened
    finally:
        await opened.close()


def roost(settings: Settings, *args: str) -> str:
    """Run ``roost ARGS`` in-process with ``settings`` in the environment; its stdout."""
    result = CliRunner().invoke(app, list(args), env=settings.as_env())
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


async def aroost(settings: Settings, *args: str) -> str:
    """``roost`` from an async test: in a thread (the command runs its own event loop)."""
    return await asyncio.to_thread(roost, settings, *args)


def duck(query: str, path: Path) -> list[tuple[Any, ...]]:
    """Run ``query`` in DuckDB with the Parquet file's path as its parameter."""
    with duckdb.connect() as con:
        return con.execute(query, [str(path)]).fetchall()


def _moment(event: StoredEvent) -> datetime | None:
    occurred = event.envelope.occurred_at
    return datetime.fromisoformat(occurred) if occurred else None


def filters(whole: list[StoredEvent], actors: dict[str, Any]
            ) -> dict[str, tuple[list[str], EventFilter]]:
    """Each filter as command-line arguments and as the ``EventFilter`` they mean."""
    rising = [e for before, e in pairwise(whole)
              if e.envelope.occurred_at > before.envelope.occurred_at]
    since, until = rising[3].envelope.occurred_at, rising[-4].envelope.occurred_at
    alice = str(account_uuid("alice"))
    return {
        "type": (["--type", "PostCreated,Followed"],
                 EventFilter(types=frozenset({"PostCreated", "Followed"}))),
        "aggregate": (["--aggregate", alice], EventFilter(aggregate_ids=frozenset({alice}))),
        "account": (["--account", "Bob"],
                    EventFilter(account_id=actors["bob"].account_id)),
        "time": (["--since", since, "--until", until],
                 EventFilter(since=datetime.fromisoformat(since),
                             until=datetime.fromisoformat(until))),
        "positions": (["--after", str(whole[4].position), "--upto", str(whole[-5].position)],
                      EventFilter(after=whole[4].position, upto=whole[-5].position)),
    }


def expected(whole: list[StoredEvent], where: EventFilter) -> list[StoredEvent]:
    return [e for e in whole if matches(where, e, _moment(e))]


async def test_sealed_personal_fields_read_as_written(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader) -> None:
    """The event store seals personal fields (infra/personal_data.py); the reader opens
    them with the accounts' data keys, so an export shows what was written (an erased
    account's read as placeholders: tests/e2e/test_erasure.py)."""
    settings, _ = history_settings
    with psycopg.connect(settings.postgres_conninfo) as conn:
        raw = b"".join(bytes(r[0]) for r in conn.execute("SELECT state FROM roost_events"))
    assert b"carol here" not in raw and b"_sealed_" in raw  # sealed in the store
    whole = await read_all(reader, EventFilter())
    texts = [e.envelope.payload["text"] for e in whole if e.envelope.type == "PostCreated"]
    assert texts == ["hello #roost", "second", "carol here"]
    bios = [e.envelope.payload["bio"] for e in whole if e.envelope.type == "ProfileUpdated"]
    assert bios == ["analyst"]


@pytest.mark.parametrize("kind", ["type", "aggregate", "account", "time", "positions"])
async def test_export_each_filter_in_both_formats(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader,
        tmp_path: Path, kind: str) -> None:
    settings, given = history_settings
    whole = await read_all(reader, EventFilter())
    args, where = filters(whole, given["actors"])[kind]
    want = expected(whole, where)
    assert 0 < len(want) < len(whole)

    jsonl, parquet = tmp_path / "events.jsonl", tmp_path / "events.parquet"
    await aroost(settings, "events", "export", "-o", str(jsonl), *args)
    await aroost(settings, "events", "export", "-o", str(parquet), "-f", "parquet", *args)

    lines = [orjson.loads(line) for line in jsonl.read_bytes().splitlines()]
    assert lines == [e.as_event() for e in want]

    table = pq.read_table(parquet)
    assert table.schema.equals(EVENT_SCHEMA, check_metadata=False)
    assert table.column("position").to_pylist() == [e.position for e in want]
    assert table.column("account").to_pylist() == [e.account for e in want]
    assert [orjson.loads(d) for d in table.column("data").to_pylist()] == [
        e.envelope.payload for e in want]
    rows = duck("SELECT position, id, type, version, account, "
                "strftime(occurred_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%g') "
                "FROM read_parquet(?) ORDER BY position", parquet)
    assert rows == [(e.position, e.envelope.event_id, e.envelope.type,
                     e.envelope.aggregate_version, e.account,
                     e.envelope.occurred_at.removesuffix("Z")) for e in want]


async def test_parquet_opens_in_duckdb_and_pandas_as_is(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader,
        tmp_path: Path) -> None:
    settings, _ = history_settings
    parquet = tmp_path / "all.parquet"
    await aroost(settings, "events", "export", "-o", str(parquet), "--format", "parquet")
    whole = await read_all(reader, EventFilter())
    described = duck("DESCRIBE SELECT * FROM read_parquet(?)", parquet)
    types = {row[0]: str(row[1]) for row in described}
    assert types == {"position": "BIGINT", "id": "VARCHAR", "type": "VARCHAR",
                     "aggregate_id": "VARCHAR", "version": "BIGINT",
                     "occurred_at": "TIMESTAMP WITH TIME ZONE", "schema_version": "INTEGER",
                     "account": "BIGINT", "data": "VARCHAR"}
    # the query docs/operations.md shows
    texts = duck("SELECT data->>'$.text' FROM read_parquet(?) "
                 "WHERE type = 'PostCreated' ORDER BY position", parquet)
    assert [t for (t,) in texts] == ["hello #roost", "second", "carol here"]
    frame = pd.read_parquet(parquet)
    assert list(frame["position"]) == [e.position for e in whole]
    assert str(frame["occurred_at"].dtype).startswith("datetime64[ms, UTC]")
    assert frame["account"].isna().sum() == sum(e.account is None for e in whole)


async def test_parquet_is_written_in_row_groups(reader: PostgresEventReader, tmp_path: Path
                                                ) -> None:
    out = tmp_path / "groups.parquet"
    written = await export(reader, EventFilter(), "parquet", out, batch=3, row_group=5)
    whole = await read_all(reader, EventFilter())
    assert written == len(whole)
    metadata = pq.ParquetFile(out).metadata
    assert metadata.num_row_groups == -(-len(whole) // 6)  # whole batches of 3, >= 5 rows
    assert pq.read_table(out).column("position").to_pylist() == [e.position for e in whole]


async def test_an_empty_selection_is_a_valid_empty_file(
        history_settings: tuple[Settings, dict[str, Any]], tmp_path: Path) -> None:
    settings, _ = history_settings
    out = tmp_path / "none.parquet"
    await aroost(settings, "events", "export", "-o", str(out), "-f", "parquet",
                 "--type", "Nothing")
    assert duck("SELECT count(*) FROM read_parquet(?)", out) == [(0,)]
    assert pq.read_table(out).schema.equals(EVENT_SCHEMA, check_metadata=False)


def test_jsonl_to_standard_output_and_refusals(
        history_settings: tuple[Settings, dict[str, Any]]) -> None:
    settings, _ = history_settings
    out = roost(settings, "events", "export", "-o", "-", "--type", "Liked")
    assert [orjson.loads(line)["type"] for line in out.splitlines()] == ["Liked"]
    runner = CliRunner()
    for args in (["--account", "nobody"], ["--aggregate", "not-a-uuid"],
                 ["--since", "yesterday"], ["-f", "csv"]):
        result = runner.invoke(app, ["events", "export", "-o", "-", *args],
                               env=settings.as_env())
        assert result.exit_code == 2, args


async def test_stats_count_by_type_and_day(history_settings: tuple[Settings, dict[str, Any]],
                                           reader: PostgresEventReader) -> None:
    settings, given = history_settings
    whole = await read_all(reader, EventFilter())
    found = orjson.loads(await aroost(settings, "events", "stats", "--json"))
    assert found["total"] == len(whole)
    assert found["by_type"] == dict(Counter(e.envelope.type for e in whole))
    assert found["by_day"] == dict(Counter(e.envelope.occurred_at[:10] for e in whole))
    bob = orjson.loads(await aroost(settings, "events", "stats", "--json", "--account", "bob"))
    assert bob["by_type"] == dict(Counter(
        e.envelope.type for e in whole if e.account == given["actors"]["bob"].account_id))
    assert "PostCreated" in await aroost(settings, "events", "stats")  # the tables


async def test_tail_prints_a_filtered_page(history_settings: tuple[Settings, dict[str, Any]],
                                           reader: PostgresEventReader) -> None:
    settings, _ = history_settings
    whole = await read_all(reader, EventFilter())
    out = await aroost(settings, "events", "tail", "--limit", "2", "--type", "PostCreated")
    assert [orjson.loads(line) for line in out.splitlines()] == [
        e.as_event() for e in whole if e.envelope.type == "PostCreated"][:2]
    assert await aroost(settings, "events", "tail", "--from-end") == ""


async def test_tail_follow_prints_new_events_as_they_are_stored(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader
        ) -> None:
    _, given = history_settings
    seen: list[StoredEvent] = []
    stop = asyncio.Event()
    where = EventFilter(types=frozenset({"PostCreated"}), after=await reader.head())
    task = asyncio.create_task(follow(reader, where, seen.append, keep_following=True,
                                      poll_s=0.05, stop=stop))
    alice = given["actors"]["alice"]
    await asyncio.to_thread(given["bus"].handle, CreatePost(actor=alice, text="live one"))
    await wait_until(lambda: len(seen) == 1, message="the new post followed")
    await asyncio.to_thread(given["bus"].handle, CreatePost(actor=alice, text="live two"))
    await wait_until(lambda: len(seen) == 2, message="the second post followed")
    stop.set()
    assert await asyncio.wait_for(task, 5) == 2
    assert [e.envelope.payload["text"] for e in seen] == ["live one", "live two"]


async def test_replay_publishes_the_range_in_order(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader
        ) -> None:
    settings, _ = history_settings
    topic = f"roost.replay.{uuid.uuid4().hex[:10]}"
    whole = await read_all(reader, EventFilter())
    args = ["--after", str(whole[2].position), "--type",
            "PostCreated,PostDeleted,Followed,Unfollowed,Liked"]
    await aroost(settings, "events", "replay", "--to-topic", topic, *args)
    want = [e for e in whole if e.position > whole[2].position and e.envelope.type in
            {"PostCreated", "PostDeleted", "Followed", "Unfollowed", "Liked"}]
    records = await read_topic(settings.model_copy(update={"kafka_topic": topic}))
    assert {r.partition for r in records} == {0}
    assert [EventEnvelope.from_json(r.value) for r in records] == [e.envelope for e in want]
    assert [r.key.decode() for r in records] == [e.envelope.aggregate_id for e in want]
    assert all(dict(r.headers)[REPLAY_HEADER] == b"1" and STORE_HEADER in dict(r.headers)
               for r in records)


def test_replay_refuses_the_projectors_topic(
        history_settings: tuple[Settings, dict[str, Any]]) -> None:
    settings, _ = history_settings
    result = CliRunner().invoke(app, ["events", "replay", "--to-topic", settings.kafka_topic],
                                env=settings.as_env())
    assert result.exit_code == 2 and "projectors" in result.output



async def test_poison_rows_are_exported_and_never_stop_a_filtered_read(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader,
        tmp_path: Path) -> None:
    settings, given = history_settings
    alice, bob = given["actors"]["alice"], given["actors"]["bob"]
    positions = store_poison(settings, poison_events(alice.account_id, bob.account_id))
    post(given["bus"], bob, "after the poison")
    whole = await read_all(reader, EventFilter())
    out = tmp_path / "all.parquet"
    await aroost(settings, "events", "export", "-o", str(out), "-f", "parquet")
    rows = {r["position"]: r for r in pq.read_table(out).to_pylist()}
    assert set(positions) <= set(rows) and len(rows) == len(whole)
    assert rows[positions[-1]]["type"] == "Undecodable"
    assert rows[positions[-1]]["occurred_at"] is None
    for args, where in (
            (["--account", "bob"], EventFilter(account_id=bob.account_id)),
            (["--since", whole[0].envelope.occurred_at],
             EventFilter(since=_moment(whole[0])))):
        jsonl = tmp_path / "some.jsonl"
        await aroost(settings, "events", "export", "-o", str(jsonl), *args)
        got = [orjson.loads(line)["position"] for line in jsonl.read_bytes().splitlines()]
        assert got == [e.position for e in expected(whole, where)], args
        assert got[-1] == whole[-1].position and positions[-1] not in got
    with pytest.raises(psycopg.errors.DataError):  # what the fallback is for
        where = EventFilter(account_id=bob.account_id)
        await reader._read(where, 0, 1000, where)


async def test_reads_go_to_the_replica_when_one_is_set(
        history_settings: tuple[Settings, dict[str, Any]], reader: PostgresEventReader,
        settings_factory: SettingsFactory) -> None:
    primary, _ = history_settings
    empty = settings_factory()  # another database, with no events
    replica = empty.model_copy(update={"events_replica_url": primary.postgres_conninfo})
    whole = await read_all(reader, EventFilter())
    assert await aroost(empty, "events", "export", "-o", "-") == ""
    lines = (await aroost(replica, "events", "export", "-o", "-")).splitlines()
    assert [orjson.loads(line)["position"] for line in lines] == [e.position for e in whole]
