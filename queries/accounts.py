"""Accounts, follower lists and relationships, from the read models."""

from __future__ import annotations

from typing import Any

from domain.errors import NotFound
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.shapes import ACCOUNT_COLUMNS, account_shape, page

_BY_USERNAME = f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.username_lower = %s"  # noqa: S608
_BY_ID = f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.id = %s"  # noqa: S608


async def account_id_by_username(ctx: QueryContext, username: str) -> int:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id FROM rm_accounts WHERE username_lower = %s", (username.lower(),)
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no account named {username!r}", code="account_not_found")
    return int(row[0])


async def get_account(ctx: QueryContext, username: str) -> dict[str, Any]:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_BY_USERNAME, (username.lower(),))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no account named {username!r}", code="account_not_found")
    return account_shape(row)


async def get_account_by_id(ctx: QueryContext, account_id: int, *, with_email: bool = False
                            ) -> dict[str, Any] | None:
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_BY_ID, (account_id,))
        row = await cur.fetchone()
    return None if row is None else account_shape(row, with_email=with_email)


_FOLLOWERS = (
    f"SELECT {ACCOUNT_COLUMNS}, f.position FROM rm_follows f "  # noqa: S608
    "JOIN rm_accounts a ON a.id = f.follower_id "
    "WHERE f.followee_id = %s AND f.active AND f.position < %s "
    "ORDER BY f.position DESC LIMIT %s"
)
_FOLLOWING = (
    f"SELECT {ACCOUNT_COLUMNS}, f.position FROM rm_follows f "  # noqa: S608
    "JOIN rm_accounts a ON a.id = f.followee_id "
    "WHERE f.follower_id = %s AND f.active AND f.position < %s "
    "ORDER BY f.position DESC LIMIT %s"
)


async def follow_list(
    ctx: QueryContext, username: str, direction: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Followers or followings, newest follow first."""
    account_id = await account_id_by_username(ctx, username)
    before = decode_int_cursor(cursor) or 2**63 - 1
    query = _FOLLOWERS if direction == "followers" else _FOLLOWING
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(query, (account_id, before, limit + 1))
        rows = await cur.fetchall()
    items = [account_shape(row) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][10]) if len(rows) > limit else None
    return page(items, next_cursor)


async def relationship(ctx: QueryContext, reader_id: int, username: str) -> dict[str, Any]:
    other_id = await account_id_by_username(ctx, username)
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT follower_id FROM rm_follows WHERE active AND "
            "((follower_id = %s AND followee_id = %s) OR (follower_id = %s AND followee_id = %s))",
            (reader_id, other_id, other_id, reader_id),
        )
        followers = {int(row[0]) for row in await cur.fetchall()}
    return {
        "following": reader_id in followers,
        "followed_by": other_id in followers,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
    }
