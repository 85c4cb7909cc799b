"""``roost events`` (export, stats, tail, replay) and ``roost timeline show``: the analysts'
commands, registered on the ``roost`` app by ``register`` (one line in ``infra.cli``).

Every ``events`` command takes the same filters (``--type``, ``--aggregate``,
``--account``, ``--since``, ``--until``, ``--after``, ``--upto``) and reads in batches
through ``infra.event_reader`` from the event store, or from
``ROOST_EVENTS_REPLICA_URL`` when set. Progress goes to standard error, and only
when it is a terminal.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from infra.event_export import Format
from infra.event_reader import PostgresEventReader
from infra.settings import Settings
from ports.event_reader import MAX_POSITION, EventFilter, StoredEvent, ids_of

T = TypeVar("T")

events_app = typer.Typer(help="Read, export and replay the event stream (for analysts).",
                         no_args_is_help=True)
timeline_app = typer.Typer(help="Look at home timelines.", no_args_is_help=True)
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``events`` and ``timeline`` to the ``roost`` app."""
    app.add_typer(events_app, name="events")
    app.add_typer(timeline_app, name="timeline")


# -- filters -----------------------------------------------------------------------

TypeOpt = Annotated[list[str] | None, typer.Option(
    "--type", "--types", help="event type (PostCreated...); repeat or comma-separate")]
AggregateOpt = Annotated[list[str] | None, typer.Option(
    "--aggregate", help="aggregate id (UUID); repeat or comma-separate")]
AccountOpt = Annotated[str | None, typer.Option(
    "--account", help="username: only the events that account caused")]
SinceOpt = Annotated[str | None, typer.Option(
    help="occurred at or after: 2026-11-30 or 2026-11-30T12:00:00Z (no zone: UTC)")]
UntilOpt = Annotated[str | None, typer.Option(help="occurred before (same forms as --since)")]
AfterOpt = Annotated[int, typer.Option(help="only positions above this", min=0)]
UptoOpt = Annotated[int | None, typer.Option(help="only positions up to this", min=0)]


def parse_moment(text: str) -> datetime:
    """A ``--since``/``--until`` value: an ISO 8601 date or date-time; no zone means UTC.

    Raises:
        typer.BadParameter: anything else.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a date or date-time (ISO 8601)") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


async def build_filter(reader: PostgresEventReader, *, types: list[str] | None,
                       aggregates: list[str] | None, account: str | None, since: str | None,
                       until: str | None, after: int, upto: int | None) -> EventFilter:
    """The ``EventFilter`` of the command-line filters (the username resolved).

    Raises:
        typer.BadParameter: an unknown account, an aggregate id that is not a UUID, a date
            that is not one.
    """
    from uuid import UUID

    ids = ids_of(_split(aggregates))
    for value in ids:
        try:
            UUID(value)
        except ValueError as error:
            raise typer.BadParameter(f"{value!r} is not a UUID", param_hint="--aggregate"
                                     ) from error
    account_id = None
    if account is not None:
        account_id = await reader.account_id(account)
        if account_id is None:
            raise typer.BadParameter(f"no account is called {account!r}",
                                     param_hint="--account")
    return EventFilter(types=frozenset(_split(types)), aggregate_ids=ids,
                       account_id=account_id,
                       since=parse_moment(since) if since else None,
                       until=parse_moment(until) if until else None,
                       after=after, upto=MAX_POSITION if upto is None else upto)


def on_reader(task: Callable[[PostgresEventReader], Awaitable[T]]) -> T:
    """Run ``task`` with a reader on the event store (or its replica), closing it after."""
    from infra.bootstrap import build_event_reader

    settings = Settings()

    async def run() -> T:
        reader = await build_event_reader(settings)
        try:
            return await task(reader)
        finally:
            await reader.close()

    return asyncio.run(run())


class Bar:
    """A ``Meter`` drawn as a progress bar over positions (rate in events/s, ETA), on
    standard error when it is a terminal, else nothing."""

    def __init__(self, label: str, start: int, end: int, console: Console = err) -> None:
        self.start, self.end = start, max(end, start + 1)
        self.events = 0
        self.began = time.monotonic()
        self.progress = Progress(
            TextColumn(label), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[events]} events, {task.fields[rate]}/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=not console.is_terminal, transient=False)
        self.task = self.progress.add_task(label, total=self.end - self.start, events=0,
                                           rate=0)

    def __enter__(self) -> Bar:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def advance(self, scanned_to: int, events: int) -> None:
        self.events += events
        rate = self.events / max(time.monotonic() - self.began, 1e-6)
        self.progress.update(self.task, completed=min(scanned_to, self.end) - self.start,
                             events=f"{self.events:,}", rate=f"{rate:,.0f}")


async def _bar(reader: PostgresEventReader, label: str, where: EventFilter) -> Bar:
    return Bar(label, where.after, min(where.upto, await reader.head()))


# -- commands ----------------------------------------------------------------------

@events_app.command("export")
def events_export(
    output: Annotated[Path, typer.Option("--output", "-o",
                                         help="file to write; '-' is standard output (jsonl)")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or parquet")] = "jsonl",
    types: TypeOpt = None, aggregates: AggregateOpt = None, account: AccountOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, after: AfterOpt = 0,
    upto: UptoOpt = None,
    batch: Annotated[int, typer.Option(help="events per read", min=1, max=100_000)] = 5000,
) -> None:
    """Export events, one per line (JSON Lines) or one per row (Parquet)."""
    from infra.event_export import export

    if fmt not in ("jsonl", "parquet"):
        raise typer.BadParameter("jsonl or parquet", param_hint="--format")
    chosen: Format = "parquet" if fmt == "parquet" else "jsonl"

    async def task(reader: PostgresEventReader) -> int:
        where = await build_filter(reader, types=types, aggregates=aggregates,
                                   account=account, since=since, until=until, after=after,
                                   upto=upto)
        out = sys.stdout.buffer if str(output) == "-" else output
        with await _bar(reader, "exporting", where) as bar:
            return await export(reader, where, chosen, out, meter=bar, batch=batch)

    written = on_reader(task)
    if str(output) != "-":
        err.print(f"wrote {written} events to {output}")


@events_app.command("stats")
def events_stats(
    types: TypeOpt = None, aggregates: AggregateOpt = None, account: AccountOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, after: AfterOpt = 0,
    upto: UptoOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON, not tables")] = False,
) -> None:
    """Count events by type and by day (UTC)."""
    import orjson

    from infra.event_export import Stats, stats

    async def task(reader: PostgresEventReader) -> Stats:
        where = await build_filter(reader, types=types, aggregates=aggregates,
                                   account=account, since=since, until=until, after=after,
                                   upto=upto)
        with await _bar(reader, "counting", where) as bar:
            return await stats(reader, where, meter=bar)

    found = on_reader(task)
    if json_out:
        typer.echo(orjson.dumps({"total": found.total, "first": found.first,
                                 "last": found.last, "by_type": dict(found.by_type),
                                 "by_day": dict(sorted(found.by_day.items()))}).decode())
        return
    console = Console()
    by_type = Table("type", "events", title=f"{found.total} events, positions "
                    f"{found.first}..{found.last}")
    for name, count in found.by_type.most_common():
        by_type.add_row(name, str(count))
    by_day = Table("day (UTC)", "events")
    for day, count in sorted(found.by_day.items()):
        by_day.add_row(day, str(count))
    console.print(by_type)
    console.print(by_day)


@events_app.command("tail")
def events_tail(
    types: TypeOpt = None, aggregates: AggregateOpt = None, account: AccountOpt = None,
    since: SinceOpt = None, until: UntilOpt = None,
    after: Annotated[int, typer.Option(help="start after this position", min=0)] = 0,
    upto: UptoOpt = None,
    limit: Annotated[int | None, typer.Option(
        help="stop after this many events (default 100; with --follow: none)", min=1)] = None,
    follow_: Annotated[bool, typer.Option("--follow", "-F",
                                          help="keep printing new events until Ctrl-C")
                       ] = False,
    from_end: Annotated[bool, typer.Option(
        "--from-end", help="start at the newest event (with --follow: only new ones)")] = False,
    poll: Annotated[float, typer.Option(help="seconds between polls when following",
                                        min=0.05, max=60)] = 0.5,
) -> None:
    """Print events as JSON lines, oldest first; --follow keeps printing new ones."""
    from infra.event_export import follow, jsonl_line

    out = sys.stdout.buffer

    def emit(event: StoredEvent) -> None:
        out.write(jsonl_line(event))
        out.flush()

    async def task(reader: PostgresEventReader) -> int:
        start = await reader.head() if from_end else after
        where = await build_filter(reader, types=types, aggregates=aggregates,
                                   account=account, since=since, until=until, after=start,
                                   upto=upto)
        return await follow(reader, where, emit, keep_following=follow_, poll_s=poll,
                            limit=limit if limit is not None or follow_ else 100)

    try:
        on_reader(task)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@events_app.command("replay")
def events_replay(
    to_topic: Annotated[str, typer.Option("--to-topic", help="Kafka topic to publish to")],
    types: TypeOpt = None, aggregates: AggregateOpt = None, account: AccountOpt = None,
    since: SinceOpt = None, until: UntilOpt = None, after: AfterOpt = 0,
    upto: UptoOpt = None,
) -> None:
    """Publish a filtered range of events to a Kafka topic, in order (one partition;
    keyed by aggregate id), in the relay's envelope format."""
    import psycopg

    from infra.event_export import replay
    from infra.event_reader import events_conninfo
    from infra.eventlog import store_identity
    from infra.kafka import make_producer

    settings = Settings()

    async def task(reader: PostgresEventReader) -> int:
        where = await build_filter(reader, types=types, aggregates=aggregates,
                                   account=account, since=since, until=until, after=after,
                                   upto=upto)
        async with await psycopg.AsyncConnection.connect(events_conninfo(settings),
                                                         autocommit=True) as conn:
            store = await store_identity(conn)
        producer = make_producer(settings)
        await producer.start()
        try:
            with await _bar(reader, f"replaying to {to_topic}", where) as bar:
                return await replay(reader, where, settings, to_topic, producer, store,
                                    meter=bar)
        finally:
            await producer.stop()

    try:
        sent = on_reader(task)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--to-topic") from error
    err.print(f"published {sent} events to {to_topic}")


@timeline_app.command("show")
def timeline_show(
    username: Annotated[str, typer.Argument(help="whose home timeline")],
    at: Annotated[str | None, typer.Option(
        help="a position (the events up to it) or a time (those that occurred before it); "
             "default: now")] = None,
    limit: Annotated[int, typer.Option(help="items to show", min=1, max=800)] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
) -> None:
    """An account's home timeline as it was at a position or time, rebuilt from the events
    by the timeline projector (fan-out, celebrities, deletes, unfollows; blocks and
    mutes as they stood)."""
    import orjson

    from infra.timeline_at import TimelineAt, timeline_at

    settings = Settings()
    if at is None:
        where = EventFilter()
    elif at.strip().isdigit():
        where = EventFilter(upto=int(at))
    else:
        where = EventFilter(until=parse_moment(at))

    async def task(reader: PostgresEventReader) -> TimelineAt:
        account_id = await reader.account_id(username)
        if account_id is None:
            raise typer.BadParameter(f"no account is called {username!r}",
                                     param_hint="USERNAME")
        return await timeline_at(reader, account_id, where, limit=limit,
                                 max_entries=settings.timeline_max_entries,
                                 backfill=settings.follow_backfill,
                                 celebrity_threshold=settings.celebrity_threshold)

    found = on_reader(task)
    if json_out:
        for entry in found.entries:
            typer.echo(orjson.dumps({"id": str(entry.id), "repost_of": None
                                     if entry.repost_of is None else str(entry.repost_of),
                                     "by": str(entry.by), "author_id": str(entry.author_id),
                                     "text": entry.text}).decode())
        return
    table = Table("item", "repost of", "by", "author", "text",
                  title=f"{username} at position {found.position} ({found.events} events)")
    for entry in found.entries:
        table.add_row(str(entry.id), str(entry.repost_of or ""), str(entry.by),
                      str(entry.author_id), entry.text[:60])
    Console().print(table)
