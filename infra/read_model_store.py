"""The read models in PostgreSQL (port ``ports.read_models.ReadModelStore``): the ``rm_*``
tables and the projector's row of ``projection_positions`` (``infra/schema.sql``).

Every SQL statement the read-model projector runs is here; which event writes
what is ``projections.read_models``. A transaction is one pooled connection in
one PostgreSQL transaction; each writer method is one statement (edges and
counts as ``unnest`` arrays, not a statement per row), and the position row
is locked ``FOR UPDATE`` by ``locked_position`` until the commit, so several
processes applying the log apply each event once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb

from infra.copies import READ_MODEL_COPIES, READ_MODEL_TABLES
from infra.database import AsyncPool
from infra.position_rows import lock_position_row
from infra.read_model_reader import read_facts
from infra.serialization import rfc3339
from ports.page_facts import FactKeys, Facts
from ports.post_cache import Counts
from ports.projectors import READ_MODELS
from ports.read_models import (
    ACCOUNT_COUNTS,
    POST_COUNTS,
    AdminChange,
    Count,
    Edge,
    EdgeKey,
    EdgeKind,
    EdgeState,
    NewAccount,
    NewMedia,
    NewPost,
    ProfileChange,
    StoredPost,
    SuspensionChange,
)

Conn = AsyncConnection[TupleRow]


@dataclass(frozen=True)
class EdgeTable:
    """The table of one ``EdgeKind``: its two end columns, when-column and extra columns,
    and the statements that read and write many edges at once."""

    table: str
    ends: tuple[str, str]
    since: str = "since"
    extra: tuple[str, ...] = ()

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


EDGE_TABLES: Final[dict[EdgeKind, EdgeTable]] = {
    "follows": EdgeTable("rm_follows", ("follower_id", "followee_id"), since="followed_at"),
    "likes": EdgeTable("rm_likes", ("account_id", "post_id")),
    "reposts": EdgeTable("rm_reposts", ("account_id", "post_id"), extra=("repost_id",)),
    "blocks": EdgeTable("rm_blocks", ("blocker_id", "blocked_id")),
    "mutes": EdgeTable("rm_mutes", ("muter_id", "muted_id")),
}


def _count_sql(count: Count) -> sql.Composed:
    """Add steps (two arrays: ids, steps) to one count column; post counts never below 0."""
    table = "rm_accounts" if count in ACCOUNT_COUNTS else "rm_posts"
    assert count in ACCOUNT_COUNTS | POST_COUNTS  # names of the port, never user text
    name = sql.Identifier(count)
    value = sql.SQL("GREATEST({} + d.step, 0)" if table == "rm_posts" else "{} + d.step"
                    ).format(name)
    return sql.SQL("UPDATE {} AS t SET {} = {} FROM unnest(%s::bigint[], %s::int[]) "
                   "AS d(id, step) WHERE t.id = d.id").format(sql.Identifier(table), name, value)


COUNT_SQL: Final = {count: _count_sql(count) for count in ACCOUNT_COUNTS | POST_COUNTS}

_POST_COUNTS = (
    "SELECT id, likes_count, replies_count, reposts_count, "
    "(deleted_at IS NOT NULL)::int FROM rm_posts WHERE id = ANY(%s) "
    "OR id IN (SELECT reply_to_id FROM rm_posts WHERE id = ANY(%s))"  # the parents
)


class PostgresReadModelWriter:
    """``ReadModelWriter`` on one connection inside its transaction."""

    def __init__(self, conn: Conn, name: str) -> None:
        self.conn = conn
        self.name = name

    async def locked_position(self) -> int:
        return await lock_position_row(self.conn, self.name)

    async def set_position(self, position: int) -> None:
        await self.conn.execute(
            "UPDATE projection_positions SET position = %s, updated_at = now() WHERE name = %s",
            (position, self.name),
        )

    async def add_account(self, account: NewAccount) -> None:
        await self.conn.execute(
            "INSERT INTO rm_accounts (id, aggregate_id, username, username_lower, email, "
            "display_name, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (account.account_id, account.aggregate_id, account.username,
             account.username.lower(), account.email, account.display_name,
             account.created_at, account.version),
        )

    async def update_profile(self, change: ProfileChange) -> None:
        await self.conn.execute(
            "UPDATE rm_accounts SET display_name = %s, bio = %s, avatar_url = %s, version = %s "
            "WHERE aggregate_id = %s AND version < %s",
            (change.display_name, change.bio, change.avatar_url, change.version,
             change.aggregate_id, change.version),
        )

    async def set_admin(self, change: AdminChange) -> None:
        await self.conn.execute(
            "UPDATE rm_accounts SET is_admin = %s, version = %s "
            "WHERE aggregate_id = %s AND version < %s",
            (change.is_admin, change.version, change.aggregate_id, change.version),
        )

    async def set_suspension(self, change: SuspensionChange) -> None:
        await self.conn.execute(
            "UPDATE rm_accounts SET suspended_at = %s, version = %s "
            "WHERE aggregate_id = %s AND version < %s",
            (change.suspended_at, change.version, change.aggregate_id, change.version),
        )

    async def add_post(self, post: NewPost) -> bool:
        cur = await self.conn.execute(
            "INSERT INTO rm_posts (id, author_id, text, reply_to_id, quote_of_id, mentions, "
            "hashtags, created_at, version, media_ids) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            (post.post_id, post.author_id, post.text, post.reply_to_id, post.quote_of_id,
             post.mentions, post.hashtags, post.created_at, post.version,
             list(post.media_ids)),
        )
        return await cur.fetchone() is not None

    async def add_media(self, media: NewMedia) -> None:
        await self.conn.execute(
            "INSERT INTO rm_media (id, owner_id, description, blurhash, original, small, "
            "created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (media.media_id, media.owner_id, media.description, media.blurhash,
             Jsonb(media.original), Jsonb(media.small), media.created_at, media.version),
        )

    async def describe_media(self, media_id: int, description: str, version: int) -> None:
        await self.conn.execute(
            "UPDATE rm_media SET description = %s, version = %s WHERE id = %s AND version < %s",
            (description, version, media_id, version),
        )

    async def attach_media(self, post_id: int, media_ids: Sequence[int]) -> None:
        await self.conn.execute(
            "UPDATE rm_media SET post_id = %s, post_index = array_position(%s::bigint[], id) "
            "WHERE id = ANY(%s) AND post_id IS NULL",
            (post_id, list(media_ids), list(media_ids)),
        )

    async def lock_post(self, post_id: int) -> StoredPost | None:
        cur = await self.conn.execute(
            "SELECT deleted_at IS NOT NULL, reply_to_id, hashtags FROM rm_posts WHERE id = %s "
            "FOR UPDATE",
            (post_id,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        deleted, reply_to_id, hashtags = row
        return StoredPost(bool(deleted), reply_to_id, tuple(hashtags or ()))

    async def add_tombstone(self, post_id: int, author_id: int, deleted_at: str,
                            version: int) -> None:
        await self.conn.execute(
            "INSERT INTO rm_posts (id, author_id, text, created_at, deleted_at, version) "
            "VALUES (%s, %s, '', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (post_id, author_id, deleted_at, deleted_at, version),
        )

    async def mark_deleted(self, post_id: int, deleted_at: str, version: int) -> None:
        await self.conn.execute(
            "UPDATE rm_posts SET deleted_at = %s, version = %s WHERE id = %s",
            (deleted_at, version, post_id),
        )

    async def add_post_tags(self, post_id: int, author_id: int, tags: Sequence[str]) -> None:
        if tags:
            await self.conn.execute(
                "INSERT INTO rm_post_tags (tag, post_id, author_id) "
                "SELECT DISTINCT t, %s, %s FROM unnest(%s::text[]) AS t ON CONFLICT DO NOTHING",
                (post_id, author_id, list(tags)))

    async def remove_post_tags(self, post_id: int, tags: Sequence[str]) -> None:
        if tags:  # by the primary key (tag, post_id)
            await self.conn.execute(
                "DELETE FROM rm_post_tags WHERE tag = ANY(%s) AND post_id = %s",
                (list(tags), post_id))

    async def live_post_ids(self, author_id: int) -> list[int]:
        cur = await self.conn.execute(  # rm_posts_author_idx
            "SELECT id FROM rm_posts WHERE author_id = %s AND deleted_at IS NULL ORDER BY id",
            (author_id,))
        return [int(row[0]) for row in await cur.fetchall()]

    async def active_edges(self, kind: EdgeKind, account_id: int) -> list[Edge]:
        table = EDGE_TABLES[kind]
        a, b = (sql.Identifier(end) for end in table.ends)
        both = kind in ("follows", "blocks", "mutes")
        statement = sql.SQL(
            "SELECT {columns} FROM {t} WHERE active AND ({a} = %s OR ({both} AND {b} = %s)) "
            "FOR UPDATE").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, table.columns)),
            t=sql.Identifier(table.table), a=a, b=b, both=sql.Literal(both))
        cur = await self.conn.execute(statement, (account_id, account_id), prepare=False)
        edges = []
        for a_id, b_id, active, version, position, since, *extra in await cur.fetchall():
            repost_id = extra[0] if extra else None  # reposts only
            edges.append(Edge(int(a_id), int(b_id), bool(active), int(version), int(position),
                              rfc3339(since), None if repost_id is None else int(repost_id)))
        return edges

    async def erase_account(self, account_id: int) -> None:
        await self.conn.execute(
            "UPDATE rm_posts SET text = '', mentions = '{}', hashtags = '{}', media_ids = '{}' "
            "WHERE author_id = %s AND (text <> '' OR mentions <> '{}' OR hashtags <> '{}' "
            "OR media_ids <> '{}')",
            (account_id,))
        await self.conn.execute("DELETE FROM rm_media WHERE owner_id = %s", (account_id,))
        await self.conn.execute("DELETE FROM rm_post_tags WHERE author_id = %s", (account_id,))
        await self.conn.execute("DELETE FROM rm_accounts WHERE id = %s", (account_id,))

    async def lock_edges(self, kind: EdgeKind, keys: Sequence[EdgeKey]
                         ) -> dict[EdgeKey, EdgeState]:
        cur = await self.conn.execute(
            EDGE_TABLES[kind].select_sql, ([k[0] for k in keys], [k[1] for k in keys]),
            prepare=False)
        return {(int(a_id), int(b_id)): EdgeState(bool(active), int(version))
                for a_id, b_id, active, version in await cur.fetchall()}

    async def write_edges(self, kind: EdgeKind, edges: Sequence[Edge]) -> None:
        if not edges:
            return
        table = EDGE_TABLES[kind]
        columns = [list(column) for column in zip(*edges, strict=True)]
        del columns[len(table.columns):]  # repost_id for reposts only
        await self.conn.execute(table.upsert_sql, columns, prepare=False)

    async def add_to_counts(self, count: Count, steps: Mapping[int, int]) -> None:
        ids = [row_id for row_id, step in sorted(steps.items()) if step]
        if ids:
            await self.conn.execute(COUNT_SQL[count], (ids, [steps[row_id] for row_id in ids]),
                                    prepare=False)

    async def post_counts(self, post_ids: Sequence[int]) -> dict[int, Counts]:
        ids = list(post_ids)
        cur = await self.conn.execute(_POST_COUNTS, (ids, ids))
        return {
            int(post_id): {"likes_count": likes, "replies_count": replies,
                           "reposts_count": reposts, "deleted": deleted}
            for post_id, likes, replies, reposts, deleted in await cur.fetchall()
        }

    async def facts(self, keys: FactKeys) -> Facts:
        return await read_facts(self.conn, keys)


class PostgresReadModelStore:
    """``ReadModelStore`` on ``pool``.

    Without ``copy`` it writes the live copy (``infra.copies``): each transaction
    first reads the projection's ``projection_copies`` row ``FOR KEY SHARE`` (so a
    switch, which locks it ``FOR UPDATE``, waits for it and it for the switch) and
    sets its ``search_path`` to that copy's schema; the position is the
    ``projection_positions`` row ``name``. With ``copy`` (a label: ``v2``,
    ``scratch``) it writes that copy's schema, a rebuild's, and its position is
    the row ``name@copy``."""

    def __init__(self, pool: AsyncPool, name: str = READ_MODELS,
                 copy: str | None = None) -> None:
        self.pool = pool
        self.name = name
        self.copy = copy
        self.position_name = name if copy is None else f"{name}@{copy}"

    async def _enter_copy(self, conn: Conn) -> str:
        """Set ``conn``'s transaction to this store's copy; its label."""
        return await READ_MODEL_COPIES.enter(conn, self.name, self.copy)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresReadModelWriter]:
        async with self.pool.connection() as conn, conn.transaction():
            await self._enter_copy(conn)
            yield PostgresReadModelWriter(conn, self.position_name)

    async def position(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s",
                (self.position_name,))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def reset(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await self._enter_copy(conn)
            tables = sql.SQL(", ").join(sql.Identifier(t) for t in READ_MODEL_TABLES)
            await conn.execute(sql.SQL("TRUNCATE {}").format(tables))
            await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                               (self.position_name,))

    async def analyze(self) -> None:
        """ANALYZE the tables (a rebuild filled them from empty: until then the planner has
        no statistics for them, and the queries' plans can be wrong by orders of
        magnitude)."""
        async with self.pool.connection() as conn, conn.transaction():
            label = await self._enter_copy(conn)
            await READ_MODEL_COPIES.analyze(conn, label)
