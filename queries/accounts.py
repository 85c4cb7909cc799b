"""Accounts, follower lists and relationships, from the read models."""

from __future__ import annotations

from psycopg.rows import dict_row

from domain.errors import NotFound
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.cursors import upper_bound as _upper_bound
from queries.shapes import ACCOUNT_COLUMNS, Account, Page, Relationship, account_of_row, page
from queries.shapes import relationship as relationship_shape
from queries.visibility import hidden_for

_BY_USERNAME = f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.username_lower = %s"  # noqa: S608
_BY_ID = f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.id = %s"  # noqa: S608


def _no_account(username: str) -> NotFound:
    return NotFound(f"no account named {username!r}", code="account_not_found")


async def account_id_by_username(ctx: QueryContext, username: str) -> int:
    async with ctx.pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(
            "SELECT id FROM rm_accounts WHERE username_lower = %s", (username.lower(),)
        )
        row = await cur.fetchone()
    if row is None:
        raise _no_account(username)
    return int(row["id"])


async def visible_account_id(ctx: QueryContext, username: str, reader_id: int | None) -> int:
    """The account's id, or 404 when it and the reader block each other."""
    account_id = await account_id_by_username(ctx, username)
    if reader_id is not None:
        async with ctx.pool.connection() as conn:
            if account_id in (await hidden_for(conn, reader_id)).blocked:
                raise _no_account(username)
    return account_id


async def get_account(ctx: QueryContext, username: str) -> Account:
    """A public profile (shown even across a block, so the block itself is visible)."""
    async with ctx.pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_BY_USERNAME, (username.lower(),))
        row = await cur.fetchone()
    if row is None:
        raise _no_account(username)
    return account_of_row(row)


async def get_account_by_id(ctx: QueryContext, account_id: int) -> Account | None:
    """The public profile with that id, or ``None`` when the read model lacks it."""
    async with ctx.pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_BY_ID, (account_id,))
        row = await cur.fetchone()
    return None if row is None else account_of_row(row)


_FOLLOWERS = (
    f"SELECT {ACCOUNT_COLUMNS}, f.position FROM rm_follows f "  # noqa: S608
    "JOIN rm_accounts a ON a.id = f.follower_id "
    "WHERE f.followee_id = %s AND f.active AND f.position < %s "
    "AND a.id <> ALL(%s) ORDER BY f.position DESC LIMIT %s"
)
_FOLLOWING = (
    f"SELECT {ACCOUNT_COLUMNS}, f.position FROM rm_follows f "  # noqa: S608
    "JOIN rm_accounts a ON a.id = f.followee_id "
    "WHERE f.follower_id = %s AND f.active AND f.position < %s "
    "AND a.id <> ALL(%s) ORDER BY f.position DESC LIMIT %s"
)


async def follow_list(
    ctx: QueryContext, username: str, direction: str, reader_id: int | None,
    cursor: str | None, limit: int,
) -> Page[Account]:
    """Followers or followings, newest follow first, without accounts the reader blocks."""
    account_id = await visible_account_id(ctx, username, reader_id)
    before = _upper_bound(decode_int_cursor(cursor))
    query = _FOLLOWERS if direction == "followers" else _FOLLOWING
    async with ctx.pool.connection() as conn:
        hidden = sorted((await hidden_for(conn, reader_id)).blocked)
        cur = await conn.cursor(row_factory=dict_row).execute(
            query, (account_id, before, hidden, limit + 1))
        rows = await cur.fetchall()
    items = [account_of_row(row) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1]["position"]) if len(rows) > limit else None
    return page(items, next_cursor)


_EDGES = (
    "SELECT 'follow' AS kind, follower_id AS from_id, followee_id AS to_id "
    "FROM rm_follows WHERE active AND "
    "((follower_id = %(r)s AND followee_id = %(o)s) OR (follower_id = %(o)s AND "
    "followee_id = %(r)s)) "
    "UNION ALL SELECT 'block', blocker_id, blocked_id FROM rm_blocks WHERE active AND "
    "((blocker_id = %(r)s AND blocked_id = %(o)s) OR (blocker_id = %(o)s AND "
    "blocked_id = %(r)s)) "
    "UNION ALL SELECT 'mute', muter_id, muted_id FROM rm_mutes WHERE active AND "
    "muter_id = %(r)s AND muted_id = %(o)s"
)


async def relationship(ctx: QueryContext, reader_id: int, username: str) -> Relationship:
    """How the reader and ``username`` relate; a mute is visible only to the muter."""
    other = await account_id_by_username(ctx, username)
    async with ctx.pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(
            _EDGES, {"r": reader_id, "o": other})
        edges = {(row["kind"], int(row["from_id"]), int(row["to_id"]))
                 for row in await cur.fetchall()}
    return relationship_shape(
        following=("follow", reader_id, other) in edges,
        followed_by=("follow", other, reader_id) in edges,
        blocking=("block", reader_id, other) in edges,
        blocked_by=("block", other, reader_id) in edges,
        muting=("mute", reader_id, other) in edges,
    )
