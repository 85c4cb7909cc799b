"""Posts: one post, an account's posts, and hydrating ids into posts."""

from __future__ import annotations

from typing import Any

from domain.errors import NotFound
from queries.accounts import account_id_by_username
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.shapes import ACCOUNT_COLUMNS, POST_COLUMNS, account_shape, page, post_shape

_WITH_AUTHOR = (
    f"SELECT {POST_COLUMNS}, {ACCOUNT_COLUMNS} FROM rm_posts p "  # noqa: S608
    "JOIN rm_accounts a ON a.id = p.author_id WHERE p.deleted_at IS NULL "
)


def _shape(row: tuple[Any, ...]) -> dict[str, Any]:
    return post_shape(row[:7], account_shape(row[7:]))


async def hydrate(ctx: QueryContext, post_ids: list[int]) -> list[dict[str, Any]]:
    """The live posts among ``post_ids``, in the given order, in one query."""
    if not post_ids:
        return []
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_WITH_AUTHOR + "AND p.id = ANY(%s)", (post_ids,))
        rows = await cur.fetchall()
    by_id = {int(row[0]): _shape(row) for row in rows}
    return [by_id[i] for i in post_ids if i in by_id]


async def get_post(ctx: QueryContext, post_id: int) -> dict[str, Any]:
    posts = await hydrate(ctx, [post_id])
    if not posts:
        raise NotFound("post not found", code="post_not_found")
    return posts[0]


async def account_posts(
    ctx: QueryContext, username: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    author_id = await account_id_by_username(ctx, username)
    before = decode_int_cursor(cursor) or 2**63 - 1
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(
            _WITH_AUTHOR + "AND p.author_id = %s AND p.id < %s ORDER BY p.id DESC LIMIT %s",
            (author_id, before, limit + 1),
        )
        rows = await cur.fetchall()
    items = [_shape(row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1]["id"]) if len(rows) > limit else None
    return page(items, next_cursor)
