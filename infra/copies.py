"""Copies of a projection side by side, for blue-green rebuilds (docs/architecture.md,
"Blue-green rebuilds").

A projection's data lives in one *copy*, numbered 1, 2, ...; a rebuild fills the
next copy beside the live one and then switches readers to it. The table
``projection_copies`` (``infra/schema.sql``) records per projection the live copy
and the code version (``ports.projectors.VERSIONS``) that built it, and, while a
rebuild runs, the copy being built with its progress.

PostgreSQL projections (``PgCopies``): copy N is the schema ``<prefix>_vN`` (the
read models: ``rm_v1``, ``rm_v2``, ...; the notification groups: ``ntf_v1``, ...)
holding the tables of the projection's DDL;
readers read views of the stable names in ``public`` (``public.rm_accounts`` =
``SELECT * FROM rm_v2.rm_accounts``) and so need no change. Views were chosen over
switching ``search_path``: a ``search_path`` is per connection, so a switch would reach
each pooled connection of each process at a different moment; redefining the views
is one transaction, seen by every new statement of every process at once, while a
statement already running finishes on the copy it started on (the redefinition
waits for it: ``DROP VIEW`` takes the view's ACCESS EXCLUSIVE lock). The writers set
``search_path`` to their copy's schema per transaction (``SET LOCAL``), so their
statements name the tables unqualified as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow, class_row

from ports.projectors import NOTIFICATIONS, PROJECTORS, READ_MODELS, VERSIONS

if TYPE_CHECKING:
    from infra.database import AsyncPool

Conn = AsyncConnection[TupleRow]

READ_MODEL_TABLES: Final = ("rm_accounts", "rm_follows", "rm_posts", "rm_likes", "rm_reposts",
                            "rm_blocks", "rm_mutes", "rm_post_tags", "rm_media")
"""The read models' tables, in every copy (``infra/read_models.sql``)."""
NOTIFICATION_TABLES: Final = ("ntf_accounts", "ntf_posts", "ntf_edges", "ntf_preferences",
                              "ntf_groups", "ntf_members")
"""The notification groups' tables, in every copy (``infra/notification_store.sql``)."""

SWITCH_LOCK_TIMEOUT: Final = "5s"
"""How long the switch waits for a lock (a reader's statement on a view, a writer's
transaction) before it gives up and is tried again: meanwhile new readers queue
behind it, so it must not wait long."""
VIEW_LOCK_TIMEOUT: Final = "200ms"
"""How long the switch waits for each view it redefines: below PostgreSQL's
``deadlock_timeout`` (1 s by default). A reader's statement over two views (posts
and their authors, groups and their members) can hold one while it waits for
another the switch has already taken; the switch then gives up first and is tried
again, where waiting longer would have the deadlock detector cancel the reader."""
SWITCH_TRIES: Final = 400
"""How many times the switch is tried before the rebuild fails (about 100 s of
readers' statements holding a view, at ``VIEW_LOCK_TIMEOUT`` a try)."""


SCRATCH: Final = "scratch"
"""The label of a verify's copy (schema ``rm_scratch``; search generation
``SCRATCH_GENERATION``)."""
SCRATCH_GENERATION: Final = 999_999
"""The search index generation of a verify's copy (``roost-posts-v999999``)."""


def copy_label(copy: int) -> str:
    """``v3`` for copy 3 (schema ``rm_v3``, index ``roost-posts-v3``)."""
    return f"v{copy}"


def copy_number(label: str) -> int:
    """3 for ``v3``; ``SCRATCH_GENERATION`` for ``SCRATCH`` (where a number is needed:
    a search index generation)."""
    return SCRATCH_GENERATION if label == SCRATCH else int(label.removeprefix("v"))


def read_models_sql() -> str:
    """``infra/read_models.sql``: the read models' tables, applied in a copy's schema."""
    return resources.files("infra").joinpath("read_models.sql").read_text()


def notifications_sql() -> str:
    """``infra/notification_store.sql``: the notification groups' tables, applied in a
    copy's schema."""
    return resources.files("infra").joinpath("notification_store.sql").read_text()


@dataclass(frozen=True)
class CopyState:
    """One row of ``projection_copies``. ``building_*`` are None when no rebuild runs;
    ``building_rate`` is events/s; ``building_target`` the event store's head the
    bulk phase aims at."""

    name: str
    live_copy: int
    live_version: int
    building_copy: int | None = None
    building_version: int | None = None
    building_position: int | None = None
    building_target: int | None = None
    building_rate: float | None = None

    @property
    def progress(self) -> float | None:
        """Share of the bulk phase done (0..1), None when nothing is being built."""
        if self.building_copy is None:
            return None
        target = self.building_target or 0
        return 1.0 if target <= 0 else min(1.0, (self.building_position or 0) / target)


_COLUMNS = ("name, live_copy, live_version, building_copy, building_version, "
            "building_position, building_target, building_rate")


class CopyRegistry:
    """Reads and writes ``projection_copies`` on ``pool``."""

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool

    async def states(self) -> dict[str, CopyState]:
        """Every projection's row, by name (a projection without one: not migrated)."""
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=class_row(CopyState))
            await cur.execute(f"SELECT {_COLUMNS} FROM projection_copies")  # noqa: S608
            return {state.name: state for state in await cur.fetchall()}

    async def state(self, name: str) -> CopyState:
        """Raises ``KeyError`` when ``name`` has no row (the database is not migrated)."""
        return (await self.states())[name]

    async def begin(self, name: str, version: int) -> tuple[CopyState, int | None]:
        """Claim the next copy number for a rebuild of ``name`` at code ``version``:
        (the state before, the number of an unfinished earlier build to drop or None)."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM projection_copies WHERE name = %s",  # noqa: S608
                (name,))
            row = await cur.fetchone()
            if row is None:
                raise KeyError(name)
            before = CopyState(*row)
            stale = before.building_copy
            copy = max(before.live_copy, stale or 0) + 1
            await conn.execute(
                "UPDATE projection_copies SET building_copy = %s, building_version = %s, "
                "building_position = 0, building_target = 0, building_rate = 0, "
                "building_since = now(), updated_at = now() WHERE name = %s",
                (copy, version, name))
        return CopyState(before.name, before.live_copy, before.live_version, copy, version,
                         0, 0, 0.0), stale

    async def progress(self, name: str, position: int, target: int, rate: float) -> None:
        """Record a running build's progress (for ``status``, ``/health``, ``/metrics``)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE projection_copies SET building_position = %s, building_target = %s, "
                "building_rate = %s, updated_at = now() WHERE name = %s",
                (position, target, rate, name))

    async def sync_live(self, name: str, copy: int) -> None:
        """Record ``copy`` as ``name``'s live copy, where the store is what says it (the
        search aliases, a Redis projection's pointer). When it is the copy being built,
        a rebuild switched to it and stopped before recording the switch: it is
        recorded now, at the version it was built by."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT building_copy, building_version FROM "
                                     "projection_copies WHERE name = %s FOR UPDATE", (name,))
            row = await cur.fetchone()
            if row is not None and row[0] == copy:
                await record_switch(conn, name, copy, int(row[1]))
            else:
                await conn.execute("UPDATE projection_copies SET live_copy = %s WHERE name = %s",
                                   (copy, name))

    async def abandon(self, name: str) -> None:
        """Forget a build (it failed or was cancelled; its copy is dropped by the caller)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE projection_copies SET building_copy = NULL, building_version = NULL, "
                "building_position = NULL, building_target = NULL, building_rate = NULL, "
                "building_since = NULL, updated_at = now() WHERE name = %s", (name,))


async def lock_for_switch(conn: Conn, name: str) -> int:
    """Inside ``conn``'s transaction: lock ``name``'s row ``FOR UPDATE`` (the live
    copy's writers wait; they read it ``FOR KEY SHARE``) and answer the live copy."""
    await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
        sql.Literal(SWITCH_LOCK_TIMEOUT)))
    cur = await conn.execute(
        "SELECT live_copy FROM projection_copies WHERE name = %s FOR UPDATE", (name,))
    row = await cur.fetchone()
    if row is None:
        raise KeyError(name)
    return int(row[0])


async def record_switch(conn: Conn, name: str, copy: int, version: int) -> None:
    """Inside the switch's transaction: ``copy`` (built by code ``version``) is live."""
    await conn.execute(
        "UPDATE projection_copies SET live_copy = %s, live_version = %s, building_copy = NULL, "
        "building_version = NULL, building_position = NULL, building_target = NULL, "
        "building_rate = NULL, building_since = NULL, updated_at = now() WHERE name = %s",
        (copy, version, name))


async def retry_on_lock_timeout(attempt: Any, tries: int = 20) -> Any:
    """Run ``attempt()`` (a coroutine function) again while it fails on a lock timeout
    (a long reader on a view), at most ``tries`` times; the last failure is raised."""
    for left in range(tries - 1, -1, -1):
        try:
            return await attempt()
        except psycopg.errors.LockNotAvailable:
            if not left:
                raise
            await asyncio.sleep(0.05)
    return None


@dataclass(frozen=True)
class PgCopies:
    """The copies of one PostgreSQL projection: its tables (``tables``, made by the SQL
    text ``ddl``) in schema ``<prefix>_v<copy>``, behind views in ``public``."""

    prefix: str
    tables: tuple[str, ...]
    ddl: str

    def schema(self, label: str) -> str:
        """``rm_v2`` for label ``v2`` (or ``rm_scratch`` for a verify's copy)."""
        return f"{self.prefix}_{label}"

    @property
    def numbered_schema_stem(self) -> str:
        """``rm_v``: copy N's schema is this followed by N (``schema(copy_label(N))``)."""
        return self.schema(copy_label(0)).removesuffix("0")

    async def enter(self, conn: Conn, name: str, label: str | None) -> str:
        """Set ``conn``'s transaction to copy ``label`` of projection ``name`` (``None``:
        the live copy, read from ``projection_copies`` and held against a switch with
        ``FOR KEY SHARE`` until the transaction ends); answers the copy's label."""
        if label is None:  # one round trip: the row read and locked, the path set
            cur = await conn.execute(
                "SELECT c.live, set_config('search_path', format('%%I, public', "
                "%s || c.live), true) FROM (SELECT COALESCE((SELECT live_copy "
                "FROM projection_copies WHERE name = %s FOR KEY SHARE), 1) AS live) AS c",
                (self.numbered_schema_stem, name))
            row = await cur.fetchone()
            return copy_label(int(row[0]) if row else 1)
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(
            sql.Identifier(self.schema(label))))
        return label

    async def create(self, conn: Conn, label: str) -> None:
        """Make copy ``label``'s schema and empty tables (dropping a leftover first)."""
        async with conn.transaction():
            schema = sql.Identifier(self.schema(label))
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            await self.apply_ddl(conn, label)

    async def apply_ddl(self, conn: Conn, label: str) -> None:
        """Apply the DDL inside copy ``label``'s schema (in the caller's transaction)."""
        for statement in self.ddl_statements(label):
            await conn.execute(statement)

    def view_statements(self, label: str) -> list[sql.Composed | sql.SQL]:
        """Make every stable name in ``public`` read copy ``label``: dropped and made
        again (not ``CREATE OR REPLACE``) so that a version that adds or changes
        columns switches too. Run them in one transaction."""
        statements: list[sql.Composed | sql.SQL] = []
        for table in self.tables:
            view = sql.Identifier("public", table)
            statements += [sql.SQL("DROP VIEW IF EXISTS {}").format(view),
                           sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(
                               view, sql.Identifier(self.schema(label), table))]
        return statements

    def ddl_statements(self, label: str) -> list[sql.Composed | sql.SQL]:
        """Apply the DDL inside copy ``label``'s schema (run in one transaction)."""
        return [sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema(label))),
                sql.SQL(self.ddl), sql.SQL("SET LOCAL search_path TO DEFAULT")]

    async def point_views(self, conn: Conn, label: str) -> None:
        """In the caller's transaction: readers read copy ``label`` from now on (each
        view's lock waited for at most ``VIEW_LOCK_TIMEOUT``)."""
        await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
            sql.Literal(VIEW_LOCK_TIMEOUT)))
        for statement in self.view_statements(label):
            await conn.execute(statement)

    async def drop(self, conn: Conn, label: str) -> None:
        """Drop copy ``label`` (waits for statements still reading it)."""
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(self.schema(label))))

    async def analyze(self, conn: Conn, label: str) -> None:
        """Planner statistics for a copy filled from empty, before readers use it."""
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(
            sql.Identifier(self.schema(label), t) for t in self.tables)))

    async def primary_key(self, conn: Conn, label: str, table: str) -> list[str]:
        cur = await conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (f'"{self.schema(label)}"."{table}"',))
        return [str(row[0]) for row in await cur.fetchall()]

    async def differences(self, conn: Conn, live: str, other: str, limit: int = 1000
                          ) -> list[dict[str, Any]]:
        """Every row that differs between copies ``live`` and ``other`` (at most
        ``limit`` per table), on ``conn`` (give it one snapshot of both): dicts
        ``{"table", "key": {column: value}, "kind": "changed" | "missing" | "extra",
        "columns": {column: [live value, rebuilt value]}}``; ``missing``: in the
        rebuilt copy, not in the live one; ``extra``: in the live one only."""
        found: list[dict[str, Any]] = []
        for table in self.tables:
            key = await self.primary_key(conn, other, table)
            a, b = (sql.Identifier(self.schema(label), table) for label in (live, other))
            cur = await conn.execute(sql.SQL(
                "(SELECT 'live' AS side, * FROM (TABLE {a} EXCEPT TABLE {b}) AS l LIMIT %s) "
                "UNION ALL (SELECT 'rebuilt', * FROM (TABLE {b} EXCEPT TABLE {a}) AS r "
                "LIMIT %s)").format(a=a, b=b), (limit, limit))
            names = [c.name for c in cur.description or ()][1:]
            sides: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {"live": {}, "rebuilt": {}}
            for row in await cur.fetchall():
                values = dict(zip(names, row[1:], strict=True))
                sides[row[0]][tuple(values[k] for k in key)] = values
            for pk in sorted({*sides["live"], *sides["rebuilt"]}, key=repr):
                was, now = sides["live"].get(pk), sides["rebuilt"].get(pk)
                entry: dict[str, Any] = {"table": table, "key": dict(zip(key, pk, strict=True))}
                if was is not None and now is not None:
                    entry["kind"] = "changed"
                    entry["columns"] = {c: [was[c], now[c]] for c in names if was[c] != now[c]}
                elif now is not None:
                    entry["kind"] = "missing"
                    entry["columns"] = {c: [None, v] for c, v in now.items()}
                else:
                    assert was is not None
                    entry["kind"] = "extra"
                    entry["columns"] = {c: [v, None] for c, v in was.items()}
                found.append(entry)
        return found


READ_MODEL_COPIES: Final = PgCopies("rm", READ_MODEL_TABLES, read_models_sql())
"""The read models' copies: schemas ``rm_v1``, ``rm_v2``, ..."""

NOTIFICATION_COPIES: Final = PgCopies("ntf", NOTIFICATION_TABLES, notifications_sql())
"""The notification groups' copies: schemas ``ntf_v1``, ``ntf_v2``, ..."""

PG_COPIES: Final[dict[str, PgCopies]] = {READ_MODELS: READ_MODEL_COPIES,
                                         NOTIFICATIONS: NOTIFICATION_COPIES}
"""The projections kept in PostgreSQL copies behind views."""


def migrate_copies(conn: psycopg.Connection[TupleRow]) -> None:
    """Inside ``migrate``'s transaction: a ``projection_copies`` row for each projector
    (copy 1 at the code's version); each PostgreSQL projection's live copy made (the
    tables of a database from before it had copies moved into ``<prefix>_v1``, at
    version 1) or brought up to its DDL, and its views pointed at it again (new
    columns)."""
    for name in PROJECTORS:
        copies = PG_COPIES.get(name)
        row = conn.execute("SELECT live_copy FROM projection_copies WHERE name = %s",
                           (name,)).fetchone()
        live = copy_label(int(row[0]) if row is not None else 1)
        version = VERSIONS[name]
        if copies is not None and conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s",
                (copies.schema(live),)).fetchone() is None:
            legacy = conn.execute(
                "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname = %s AND c.relkind = 'r'",
                (copies.tables[0],)).fetchone()
            schema = sql.Identifier(copies.schema(live))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            if legacy:
                version = 1
                for table in copies.tables:
                    conn.execute(sql.SQL("ALTER TABLE IF EXISTS {} SET SCHEMA {}").format(
                        sql.Identifier("public", table), schema))
        if row is None:
            conn.execute("INSERT INTO projection_copies (name, live_copy, live_version) "
                         "VALUES (%s, 1, %s)", (name, version))
        if copies is not None:
            for statement in [*copies.ddl_statements(live), *copies.view_statements(live)]:
                conn.execute(statement)
