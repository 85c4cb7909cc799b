"""PostgreSQL read models: accounts with counts, follow edges and posts.

Each event is applied in one transaction together with the projector's
position, so against its own database the projection is exactly-once; the
row versions guard updates so that even a replay from scratch over existing
rows changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from projections.envelope import EventEnvelope

Conn = AsyncConnection[TupleRow]
NAME = "read_models"
READ_MODEL_TABLES = ("rm_accounts", "rm_follows", "rm_posts", "rm_likes", "rm_reposts",
                     "rm_blocks", "rm_mutes")


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


async def _post_deleted(conn: Conn, e: EventEnvelope) -> None:
    """Mark the post deleted; if its creation was never applied (parked), leave a
    tombstone, so that replaying the creation later cannot bring it back."""
    p = e.payload
    cur = await conn.execute(
        "SELECT deleted_at IS NULL, reply_to_id FROM rm_posts WHERE id = %s FOR UPDATE",
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


@dataclass(frozen=True, slots=True)
class EdgeTable:
    """A read-model table of on/off edges between two ids, guarded by version."""

    table: str
    ends: tuple[str, str]
    since: str = "since"
    extra: tuple[str, ...] = ()


FOLLOWS = EdgeTable("rm_follows", ("follower_id", "followee_id"), since="followed_at")
LIKES = EdgeTable("rm_likes", ("account_id", "post_id"))
REPOSTS = EdgeTable("rm_reposts", ("account_id", "post_id"), extra=("repost_id",))
BLOCKS = EdgeTable("rm_blocks", ("blocker_id", "blocked_id"))
MUTES = EdgeTable("rm_mutes", ("muter_id", "muted_id"))
TURNS_OFF = frozenset({"Unfollowed", "Unliked", "Unreposted", "Unblocked", "Unmuted"})


async def _set_edge(conn: Conn, edge: EdgeTable, e: EventEnvelope) -> int:
    """Apply the edge's new state; +1 or -1 if it really changed, else 0."""
    ends = tuple(e.payload[column] for column in edge.ends)
    active = e.type not in TURNS_OFF
    a, b = (sql.Identifier(column) for column in edge.ends)
    cur = await conn.execute(
        sql.SQL("SELECT active, version FROM {} WHERE {} = %s AND {} = %s FOR UPDATE").format(
            sql.Identifier(edge.table), a, b),
        ends,
    )
    row = await cur.fetchone()
    if row is not None and row[1] >= e.aggregate_version:
        return 0  # this or a later state is already applied
    columns = [*edge.ends, "active", "version", "position", edge.since, *edge.extra]
    values = [*ends, active, e.aggregate_version, e.position, e.occurred_at,
              *(e.payload[column] for column in edge.extra)]
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns[2:]
    )
    await conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}, {}) DO UPDATE SET {}").format(
            sql.Identifier(edge.table), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)), a, b, updates),
        values,
    )
    was_active = bool(row and row[0])
    return 0 if was_active == active else (1 if active else -1)


async def _follow_changed(conn: Conn, e: EventEnvelope) -> None:
    if step := await _set_edge(conn, FOLLOWS, e):
        await _bump(conn, "following_count", e.payload["follower_id"], step)
        await _bump(conn, "followers_count", e.payload["followee_id"], step)


async def _like_changed(conn: Conn, e: EventEnvelope) -> None:
    if step := await _set_edge(conn, LIKES, e):
        await _bump_post(conn, "likes_count", e.payload["post_id"], step)


async def _repost_changed(conn: Conn, e: EventEnvelope) -> None:
    if step := await _set_edge(conn, REPOSTS, e):
        await _bump_post(conn, "reposts_count", e.payload["post_id"], step)


async def _block_changed(conn: Conn, e: EventEnvelope) -> None:
    await _set_edge(conn, BLOCKS, e)


async def _mute_changed(conn: Conn, e: EventEnvelope) -> None:
    await _set_edge(conn, MUTES, e)


_POST_COUNTERS = frozenset({"likes_count", "replies_count", "reposts_count"})


async def _bump_post(conn: Conn, counter: str, post_id: int | None, step: int) -> None:
    assert counter in _POST_COUNTERS  # a column name, never user text
    column = sql.Identifier(counter)
    await conn.execute(
        sql.SQL("UPDATE rm_posts SET {} = GREATEST({} + %s, 0) WHERE id = %s").format(
            column, column),
        (step, post_id),
    )


_COUNTERS = frozenset({"posts_count", "followers_count", "following_count"})


async def _bump(conn: Conn, counter: str, account_id: int, step: int) -> None:
    assert counter in _COUNTERS  # a column name, never user text
    column = sql.Identifier(counter)
    await conn.execute(
        sql.SQL("UPDATE rm_accounts SET {} = {} + %s WHERE id = %s").format(column, column),
        (step, account_id),
    )


HANDLERS: dict[str, Callable[[Conn, EventEnvelope], Awaitable[None]]] = {
    "AccountRegistered": _account_registered,
    "ProfileUpdated": _profile_updated,
    "PostCreated": _post_created,
    "PostDeleted": _post_deleted,
    "Followed": _follow_changed,
    "Refollowed": _follow_changed,
    "Unfollowed": _follow_changed,
    "Liked": _like_changed,
    "Reliked": _like_changed,
    "Unliked": _like_changed,
    "Reposted": _repost_changed,
    "Rereposted": _repost_changed,
    "Unreposted": _repost_changed,
    "Blocked": _block_changed,
    "Reblocked": _block_changed,
    "Unblocked": _block_changed,
    "Muted": _mute_changed,
    "Remuted": _mute_changed,
    "Unmuted": _mute_changed,
}


class CountsSink(Protocol):
    """Where fresh post counts go after a commit (the post cache)."""

    async def set_counts(self, counts: dict[int, dict[str, int]]) -> None: ...


def posts_touched(event: EventEnvelope) -> list[int]:
    """Posts whose counts or existence ``event`` may change."""
    p = event.payload
    if event.type in HANDLERS and "post_id" in p and event.type != "PostCreated":
        return [p["post_id"]]
    if event.type == "PostCreated" and p.get("reply_to_id") is not None:
        return [p["reply_to_id"]]
    return []


class ReadModelProjector:
    """Applies events to the ``rm_*`` tables, exactly once per position."""

    name = NAME

    def __init__(self, pool: AsyncConnectionPool[Conn], counts_sink: CountsSink | None = None
                 ) -> None:
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
        """All the events in one transaction with the new position: all or nothing."""
        touched: list[int] = []
        async with self.pool.connection() as conn:
            async with conn.transaction():
                position = await self._locked_position(conn)
                fresh = [e for e in events if e.position > position]
                if not fresh:
                    return
                for event in fresh:
                    handler = HANDLERS.get(event.type)
                    if handler is not None:
                        await handler(conn, event)
                    touched += posts_touched(event)
                await self._set_position(conn, fresh[-1].position)
            await self._publish_counts(conn, sorted(set(touched)))

    async def _publish_counts(self, conn: Conn, post_ids: list[int]) -> None:
        """Hand committed counts to the post cache (absolute values: idempotent)."""
        if not post_ids or self.counts_sink is None:
            return
        cur = await conn.execute(
            "SELECT id, likes_count, replies_count, reposts_count, "
            "(deleted_at IS NOT NULL)::int FROM rm_posts WHERE id = ANY(%s) "
            "OR id IN (SELECT reply_to_id FROM rm_posts WHERE id = ANY(%s))",  # the parents
            (post_ids, post_ids),
        )
        counts = {
            int(row[0]): {"likes_count": row[1], "replies_count": row[2],
                          "reposts_count": row[3], "deleted": row[4]}
            for row in await cur.fetchall()
        }
        await self.counts_sink.set_counts(counts)

    async def replay(self, event: EventEnvelope) -> None:
        """Apply a parked event's writes again, leaving the position alone."""
        handler = HANDLERS.get(event.type)
        if handler is not None:
            async with self.pool.connection() as conn, conn.transaction():
                await handler(conn, event)

    async def advance(self, position: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            if await self._locked_position(conn) < position:
                await self._set_position(conn, position)

    async def reset(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            tables = sql.SQL(", ").join(sql.Identifier(t) for t in READ_MODEL_TABLES)
            await conn.execute(sql.SQL("TRUNCATE {}").format(tables))
            await conn.execute("DELETE FROM projection_positions WHERE name = %s", (self.name,))

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
