"""Posts: one post, an account's posts, and a reply thread."""

from __future__ import annotations

from psycopg.rows import dict_row

from domain.errors import NotFound
from queries.accounts import visible_account_id
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.cursors import upper_bound as _upper_bound
from queries.hydration import hydrate
from queries.shapes import Page, Post, Thread, page
from queries.shapes import thread as thread_shape

MAX_THREAD = 1000

_ANCESTORS = (
    "WITH RECURSIVE up(id, reply_to_id, depth) AS ("
    " SELECT id, reply_to_id, 0 FROM rm_posts WHERE id = %(id)s"
    " UNION ALL SELECT p.id, p.reply_to_id, up.depth + 1 FROM rm_posts p"
    " JOIN up ON p.id = up.reply_to_id WHERE up.depth < %(max)s)"
    " SELECT id FROM up WHERE depth > 0 ORDER BY depth DESC"
)
_DESCENDANTS = (
    "WITH RECURSIVE down(id, path) AS ("
    " SELECT id, ARRAY[id] FROM rm_posts WHERE reply_to_id = %(id)s"
    " UNION ALL SELECT p.id, down.path || p.id FROM rm_posts p"
    " JOIN down ON p.reply_to_id = down.id WHERE cardinality(down.path) < %(max)s)"
    " SELECT id FROM down ORDER BY path LIMIT %(max)s"
)


async def get_post(ctx: QueryContext, post_id: int, reader_id: int | None) -> Post:
    posts = await hydrate(ctx, [(post_id, None)], reader_id)
    if not posts:
        raise NotFound("post not found", code="post_not_found")
    return posts[0]


async def account_posts(
    ctx: QueryContext, username: str, reader_id: int | None, cursor: str | None, limit: int
) -> Page[Post]:
    """An account's own posts, newest first (hidden entirely from a blocked reader)."""
    author_id = await visible_account_id(ctx, username, reader_id)
    before = _upper_bound(decode_int_cursor(cursor))
    async with ctx.pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(
            "SELECT id FROM rm_posts WHERE author_id = %s AND deleted_at IS NULL AND id < %s "
            "ORDER BY id DESC LIMIT %s",
            (author_id, before, limit + 1),
        )
        ids = [int(row["id"]) for row in await cur.fetchall()]
    items = await hydrate(ctx, [(i, None) for i in ids[:limit]], reader_id)
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    return page(items, next_cursor)


async def thread(ctx: QueryContext, post_id: int, reader_id: int | None) -> Thread:
    """Ancestors root first; descendants depth-first, oldest first among siblings.

    Deleted posts and posts the reader must not see are left out, while the
    replies beneath them stay.
    """
    await get_post(ctx, post_id, reader_id)
    async with ctx.pool.connection() as conn:
        up = await conn.cursor(row_factory=dict_row).execute(
            _ANCESTORS, {"id": post_id, "max": MAX_THREAD})
        ancestors = [int(row["id"]) for row in await up.fetchall()]
        down = await conn.cursor(row_factory=dict_row).execute(
            _DESCENDANTS, {"id": post_id, "max": MAX_THREAD})
        descendants = [int(row["id"]) for row in await down.fetchall()]
    return thread_shape(
        ancestors=await hydrate(ctx, [(i, None) for i in ancestors], reader_id),
        descendants=await hydrate(ctx, [(i, None) for i in descendants], reader_id),
    )
