"""Posts: one post, an account's posts, and a reply thread."""

from __future__ import annotations

from domain.errors import NotFound
from queries.accounts import visible_account_id
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.cursors import upper_bound as _upper_bound
from queries.hydration import hydrate
from queries.shapes import Page, Post, Thread, page
from queries.shapes import thread as thread_shape

MAX_THREAD = 1000
"""The most ancestors, and the most descendants, a thread shows."""


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
    ids = await ctx.read_models.account_post_ids(author_id, before, limit + 1)
    items = await hydrate(ctx, [(i, None) for i in ids[:limit]], reader_id)
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    return page(items, next_cursor)


async def thread(ctx: QueryContext, post_id: int, reader_id: int | None) -> Thread:
    """Ancestors root first; descendants depth-first, oldest first among siblings.

    Deleted posts and posts the reader must not see are left out, while the
    replies beneath them stay.
    """
    await get_post(ctx, post_id, reader_id)
    around = await ctx.read_models.thread_ids(post_id, MAX_THREAD)
    return thread_shape(
        ancestors=await hydrate(ctx, [(i, None) for i in around.ancestors], reader_id),
        descendants=await hydrate(ctx, [(i, None) for i in around.descendants], reader_id),
    )
