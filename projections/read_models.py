"""PostgreSQL read models: accounts with counts, follow edges and posts.

Each event is applied in one transaction together with the projector's
position, so against its own database the projection is exactly-once; the
row versions guard updates so that even a replay from scratch over existing
rows changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from projections.envelope import EventEnvelope

Conn = AsyncConnection[TupleRow]
NAME = "read_models"
READ_MODEL_TABLES = ("rm_accounts", "rm_follows", "rm_posts")


def schema_sql() -> str:
    return resources.files("projections").joinpath("schema.sql").read_text()


async def _account_registered(conn: Conn, e: EventEnvelope) -> None:
    p = e.payload
    await conn.execute(
        "INSERT INTO rm_accounts (id, aggregate_id, username, username_lower, email, "
        "display_name, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING",
        (p["account_id"], e.aggregate_id, p["username"], p["username"].lower(), p["email"],
         p["display_name"], e.occurred_at, e.aggregate_version),
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


async def _post_deleted(conn: Conn, e: EventEnvelope) -> None:
    p = e.payload
    cur = await conn.execute(
        "UPDATE rm_posts SET deleted_at = %s, version = %s "
        "WHERE id = %s AND deleted_at IS NULL RETURNING author_id",
        (e.occurred_at, e.aggregate_version, p["post_id"]),
    )
    if await cur.fetchone():
        await _bump(conn, "posts_count", p["author_id"], -1)


async def _follow_changed(conn: Conn, e: EventEnvelope) -> None:
    """Set the edge's state; adjust both counts only if the state really changed."""
    p = e.payload
    follower, followee = p["follower_id"], p["followee_id"]
    active = e.type != "Unfollowed"
    cur = await conn.execute(
        "SELECT active, version FROM rm_follows WHERE follower_id = %s AND followee_id = %s "
        "FOR UPDATE",
        (follower, followee),
    )
    row = await cur.fetchone()
    if row is not None and row[1] >= e.aggregate_version:
        return
    await conn.execute(
        "INSERT INTO rm_follows (follower_id, followee_id, active, version, position, "
        "followed_at) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (follower_id, followee_id) DO UPDATE SET active = EXCLUDED.active, "
        "version = EXCLUDED.version, position = EXCLUDED.position, "
        "followed_at = EXCLUDED.followed_at",
        (follower, followee, active, e.aggregate_version, e.position, e.occurred_at),
    )
    was_active = bool(row and row[0])
    if was_active != active:
        step = 1 if active else -1
        await _bump(conn, "following_count", follower, step)
        await _bump(conn, "followers_count", followee, step)


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
}


class ReadModelProjector:
    """Applies events to the ``rm_*`` tables, exactly once per position."""

    name = NAME

    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self.pool = pool

    async def position(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s", (self.name,)
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def apply(self, event: EventEnvelope) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            if await self._locked_position(conn) >= event.position:
                return
            handler = HANDLERS.get(event.type)
            if handler is not None:
                await handler(conn, event)
            await self._set_position(conn, event.position)

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
