"""PostgreSQL read models: accounts with counts, posts, and the edges between them
(follows, likes, reposts, blocks, mutes).

A batch of events is applied in one transaction together with the projector's
position, so against its own database the projection is exactly-once; the
row versions guard updates so that even a replay from scratch over existing
rows changes nothing. Inside a batch, consecutive edge events of one table
are applied as a run, in a few set-based statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ports.events import EventEnvelope
from ports.post_cache import Counts, PostCountsSink
from ports.projectors import READ_MODELS

Conn = AsyncConnection[TupleRow]
READ_MODEL_TABLES = ("rm_accounts", "rm_follows", "rm_posts", "rm_likes", "rm_reposts",
                     "rm_blocks", "rm_mutes", "rm_post_tags")


def schema_sql() -> str:
    return resources.files("projections").joinpath("schema.sql").read_text()


async def _account_registered(conn: Conn, e: EventEnvelope) -> None:
    p = e.payload
    await conn.execute(
        "INSERT INTO rm_accounts (id, aggregate_id, username, username_lower, email, "
        "display_name, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING",
        (p["account_id"], e.aggregate_id, p["username"], p["username"].lower(),
         p.get("email", ""), p["display_name"], e.occurred_at, e.aggregate_version),
    )


async def _profile_updated(conn: Conn, e: EventEnvelope) -> None:
    p = e.payload
    await conn.execute(
        "UPDATE rm_accounts SET display_name = %s, bio = %s, avatar_url = %s, version = %s "
        "WHERE aggregate_id = %s AND version < %s",
        (p["display_name"], p["bio"], p["avatar_url"], e.aggregate_version, e.aggregate_id,
         e.aggregate_version),
    )


async def _post_created(conn: Conn, e: EventEnvelope) -> None:
    p = e.payload
    cur = await conn.execute(
        "INSERT INTO rm_posts (id, author_id, text, reply_to_id, quote_of_id, mentions, "
        "hashtags, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING RETURNING id",
        (p["post_id"], p["author_id"], p["text"], p["reply_to_id"], p["quote_of_id"],
         p["mentions"], p["hashtags"], e.occurred_at, e.aggregate_version),
    )
    if await cur.fetchone():
        await _bump(conn, "posts_count", p["author_id"], 1)
        if p["reply_to_id"] is not None:
            await _bump_post(conn, "replies_count", p["reply_to_id"], 1)
        if p["hashtags"]:  # the tag timelines (rm_post_tags, issue 11)
            await conn.execute(
                "INSERT INTO rm_post_tags (tag, post_id, author_id) "
                "SELECT DISTINCT t, %s, %s FROM unnest(%s::text[]) AS t ON CONFLICT DO NOTHING",
                (p["post_id"], p["author_id"], p["hashtags"]))


async def _post_deleted(conn: Conn, e: EventEnvelope) -> None:
    """Mark the post deleted; if its creation was never applied (parked), leave a
    tombstone, so that replaying the creation later cannot bring it back."""
    p = e.payload
    cur = await conn.execute(
        "SELECT deleted_at IS NULL, reply_to_id, hashtags FROM rm_posts WHERE id = %s "
        "FOR UPDATE",
        (p["post_id"],),
    )
    row = await cur.fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO rm_posts (id, author_id, text, created_at, deleted_at, version) "
            "VALUES (%s, %s, '', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (p["post_id"], p["author_id"], e.occurred_at, e.occurred_at, e.aggregate_version),
        )
        return
    if not row[0]:
        return  # already deleted
    await conn.execute(
        "UPDATE rm_posts SET deleted_at = %s, version = %s WHERE id = %s",
        (e.occurred_at, e.aggregate_version, p["post_id"]),
    )
    await _bump(conn, "posts_count", p["author_id"], -1)
    if row[1] is not None:
        await _bump_post(conn, "replies_count", row[1], -1)
    if row[2]:
        await conn.execute("DELETE FROM rm_post_tags WHERE tag = ANY(%s) AND post_id = %s",
                           (row[2], p["post_id"]))


CountColumn = tuple[str, str, int]
"""(table, count column, which end of the edge is the row's id)."""


@dataclass(frozen=True)
class EdgeTable:
    """A read-model table of on/off edges between two ids, guarded by version,
    and the counts that move when an edge turns on or off."""

    table: str
    ends: tuple[str, str]
    since: str = "since"
    extra: tuple[str, ...] = ()
    counters: tuple[CountColumn, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.ends, "active", "version", "position", self.since, *self.extra]

    @cached_property
    def select_sql(self) -> sql.Composed:
        """The stored state of a list of edges, locked (two arrays of ends)."""
        a, b = (sql.Identifier(column) for column in self.ends)
        return sql.SQL(
            "SELECT t.{a}, t.{b}, t.active, t.version FROM {t} AS t "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(a, b) ON t.{a} = k.a AND t.{b} = k.b "
            "FOR UPDATE OF t").format(a=a, b=b, t=sql.Identifier(self.table))

    @cached_property
    def upsert_sql(self) -> sql.Composed:
        """Write many edges at once: one array parameter per column."""
        columns = self.columns
        types = ["bigint", "bigint", "boolean", "int", "bigint", "timestamptz",
                 *("bigint" for _ in self.extra)]
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns[2:])
        return sql.SQL(
            "INSERT INTO {} ({}) SELECT * FROM unnest({}) ON CONFLICT ({}, {}) DO UPDATE SET {}"
        ).format(
            sql.Identifier(self.table), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(t)) for t in types),
            *(sql.Identifier(end) for end in self.ends), updates)

    def key(self, e: EventEnvelope) -> tuple[int, int]:
        return int(e.payload[self.ends[0]]), int(e.payload[self.ends[1]])

    def row(self, e: EventEnvelope) -> tuple[object, ...]:
        return (*self.key(e), e.type not in TURNS_OFF, e.aggregate_version, e.position,
                e.occurred_at, *(e.payload[column] for column in self.extra))


FOLLOWS = EdgeTable("rm_follows", ("follower_id", "followee_id"), since="followed_at",
                    counters=(("rm_accounts", "following_count", 0),
                              ("rm_accounts", "followers_count", 1)))
LIKES = EdgeTable("rm_likes", ("account_id", "post_id"),
                  counters=(("rm_posts", "likes_count", 1),))
REPOSTS = EdgeTable("rm_reposts", ("account_id", "post_id"), extra=("repost_id",),
                    counters=(("rm_posts", "reposts_count", 1),))
BLOCKS = EdgeTable("rm_blocks", ("blocker_id", "blocked_id"))
MUTES = EdgeTable("rm_mutes", ("muter_id", "muted_id"))
TURNS_OFF = frozenset({"Unfollowed", "Unliked", "Unreposted", "Unblocked", "Unmuted"})
EDGE_EVENTS: dict[str, EdgeTable] = {
    **dict.fromkeys(("Followed", "Refollowed", "Unfollowed"), FOLLOWS),
    **dict.fromkeys(("Liked", "Reliked", "Unliked"), LIKES),
    **dict.fromkeys(("Reposted", "Rereposted", "Unreposted"), REPOSTS),
    **dict.fromkeys(("Blocked", "Reblocked", "Unblocked"), BLOCKS),
    **dict.fromkeys(("Muted", "Remuted", "Unmuted"), MUTES),
}


async def _set_edges(conn: Conn, edge: EdgeTable, events: Sequence[EventEnvelope]) -> None:
    """Apply a run of events of one edge table, in order, in a few statements.

    Per edge only the newest version beyond the stored one is written, and each
    count moves by (active now) - (active before): what applying the events
    one by one would do, in three round trips instead of four per event.
    """
    keys = list(dict.fromkeys(edge.key(e) for e in events))
    cur = await conn.execute(edge.select_sql, ([k[0] for k in keys], [k[1] for k in keys]),
                             prepare=False)
    stored = {(int(r[0]), int(r[1])): (bool(r[2]), int(r[3])) for r in await cur.fetchall()}
    newest: dict[tuple[int, int], EventEnvelope] = {}
    for e in events:
        key = edge.key(e)
        seen = newest[key].aggregate_version if key in newest else stored.get(key, (False, 0))[1]
        if e.aggregate_version > seen:  # else this or a later state is already applied
            newest[key] = e
    if not newest:
        return
    rows = [edge.row(e) for e in newest.values()]
    await conn.execute(edge.upsert_sql, [list(column) for column in zip(*rows, strict=True)],
                       prepare=False)
    deltas: dict[tuple[str, str], Counter[int]] = {}
    for key, e in newest.items():
        step = int(e.type not in TURNS_OFF) - int(stored.get(key, (False, 0))[0])
        for table, column, end in edge.counters if step else ():
            deltas.setdefault((table, column), Counter())[key[end]] += step
    for (table, column), by_id in deltas.items():
        await _bump_many(conn, table, column, by_id)


_COUNTERS = {"rm_accounts": frozenset({"posts_count", "followers_count", "following_count"}),
             "rm_posts": frozenset({"likes_count", "replies_count", "reposts_count"})}


async def _bump_many(conn: Conn, table: str, column: str, steps: Mapping[int, int]) -> None:
    """Add each step to the row's count (post counts never below 0), in one statement."""
    assert column in _COUNTERS[table]  # names from this module, never user text
    name = sql.Identifier(column)
    value = sql.SQL("GREATEST({} + d.step, 0)" if table == "rm_posts" else "{} + d.step"
                    ).format(name)
    ids = [row_id for row_id, step in sorted(steps.items()) if step]
    if ids:
        await conn.execute(
            sql.SQL("UPDATE {} AS t SET {} = {} FROM unnest(%s::bigint[], %s::int[]) "
                    "AS d(id, step) WHERE t.id = d.id").format(sql.Identifier(table), name, value),
            (ids, [steps[row_id] for row_id in ids]), prepare=False)


async def _bump(conn: Conn, counter: str, account_id: int, step: int) -> None:
    await _bump_many(conn, "rm_accounts", counter, {account_id: step})


async def _bump_post(conn: Conn, counter: str, post_id: int | None, step: int) -> None:
    if post_id is not None:
        await _bump_many(conn, "rm_posts", counter, {post_id: step})


HANDLERS: dict[str, Callable[[Conn, EventEnvelope], Awaitable[None]]] = {
    "AccountRegistered": _account_registered,
    "ProfileUpdated": _profile_updated,
    "PostCreated": _post_created,
    "PostDeleted": _post_deleted,
}
"""Events applied one at a time; edge events (``EDGE_EVENTS``) go in runs."""


def _runs(events: Sequence[EventEnvelope]) -> Iterator[list[EventEnvelope]]:
    """Consecutive events of one edge table together; every other event alone."""
    run: list[EventEnvelope] = []
    for event in events:
        if run and not (event.type in EDGE_EVENTS
                        and EDGE_EVENTS.get(run[-1].type) is EDGE_EVENTS[event.type]):
            yield run
            run = []
        run.append(event)
    if run:
        yield run


async def _apply_run(conn: Conn, run: list[EventEnvelope]) -> None:
    edge = EDGE_EVENTS.get(run[0].type)
    if edge is not None:
        await _set_edges(conn, edge, run)
    elif (handler := HANDLERS.get(run[0].type)) is not None:
        await handler(conn, run[0])


_POST_COUNTS = (
    "SELECT id, likes_count, replies_count, reposts_count, "
    "(deleted_at IS NOT NULL)::int FROM rm_posts WHERE id = ANY(%s) "
    "OR id IN (SELECT reply_to_id FROM rm_posts WHERE id = ANY(%s))"  # the parents
)


def posts_touched(event: EventEnvelope) -> list[int]:
    """Posts whose counts or existence ``event`` may change."""
    p = event.payload
    if (event.type in HANDLERS or event.type in EDGE_EVENTS) and "post_id" in p \
            and event.type != "PostCreated":
        return [p["post_id"]]
    if event.type == "PostCreated" and p.get("reply_to_id") is not None:
        return [p["reply_to_id"]]
    return []


class ReadModelProjector:
    """Applies events to the ``rm_*`` tables, exactly once per position."""

    name = READ_MODELS

    def __init__(self, pool: AsyncConnectionPool[Conn],
                 counts_sink: PostCountsSink | None = None) -> None:
        """``counts_sink`` (the post cache) gets the absolute counts of the posts each
        transaction touched, before it commits; its ``DependencyUnavailable`` rolls
        the transaction back to be retried."""
        self.pool = pool
        self.counts_sink = counts_sink

    async def position(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s", (self.name,)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def apply(self, event: EventEnvelope) -> None:
        await self.apply_batch([event])

    async def apply_batch(self, events: Sequence[EventEnvelope]) -> None:
        """All the events in one transaction with the new position: all or nothing.

        The post cache gets the new counts inside that transaction, after the
        writes and before the commit. So once the position is visible the cache
        holds counts at least that new (a read with Roost-Min-Position never sees
        older ones), and a cache that cannot be reached rolls everything back to
        be retried, rather than leaving it stale after a commit. A commit that
        fails after the cache was told leaves counts that the event store already
        holds and the retry writes again."""
        async with self.pool.connection() as conn, conn.transaction():
            position = await self._locked_position(conn)
            fresh = [e for e in events if e.position > position]
            if not fresh:
                return
            touched: list[int] = []
            for run in _runs(fresh):
                await _apply_run(conn, run)
                for event in run:
                    touched += posts_touched(event)
            await self._publish_counts(conn, touched)
            await self._set_position(conn, fresh[-1].position)

    async def _publish_counts(self, conn: Conn, post_ids: list[int]) -> None:
        """Hand the counts this transaction wrote to the post cache (absolute values:
        idempotent)."""
        if not post_ids or self.counts_sink is None:
            return
        unique = sorted(set(post_ids))
        cur = await conn.execute(_POST_COUNTS, (unique, unique))
        counts: dict[int, Counts] = {
            int(row[0]): {"likes_count": row[1], "replies_count": row[2],
                          "reposts_count": row[3], "deleted": row[4]}
            for row in await cur.fetchall()
        }
        await self.counts_sink.set_counts(counts)

    async def replay(self, event: EventEnvelope) -> None:
        """Apply a parked event's writes again, leaving the position alone."""
        async with self.pool.connection() as conn, conn.transaction():
            await _apply_run(conn, [event])
            await self._publish_counts(conn, posts_touched(event))

    async def advance(self, position: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            if await self._locked_position(conn) < position:
                await self._set_position(conn, position)

    async def reset(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            tables = sql.SQL(", ").join(sql.Identifier(t) for t in READ_MODEL_TABLES)
            await conn.execute(sql.SQL("TRUNCATE {}").format(tables))
            await conn.execute("DELETE FROM projection_positions WHERE name = %s", (self.name,))

    async def after_rebuild(self) -> None:
        """ANALYZE the tables a rebuild filled from empty: until then the planner has
        no statistics for them (autovacuum may be off, or not have run yet), and
        the queries' plans, the API's included, can be wrong by orders of magnitude."""
        async with self.pool.connection() as conn:
            await conn.execute(sql.SQL("ANALYZE {}").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in READ_MODEL_TABLES)))

    async def _locked_position(self, conn: Conn) -> int:
        await conn.execute(
            "INSERT INTO projection_positions (name, position) VALUES (%s, 0) "
            "ON CONFLICT (name) DO NOTHING",
            (self.name,),
        )
        cur = await conn.execute(
            "SELECT position FROM projection_positions WHERE name = %s FOR UPDATE", (self.name,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _set_position(self, conn: Conn, position: int) -> None:
        await conn.execute(
            "UPDATE projection_positions SET position = %s, updated_at = now() WHERE name = %s",
            (position, self.name),
        )
