"""The home timeline: post ids from Redis, hydrated from the read models."""

from __future__ import annotations

from typing import Any

from infra.redis_keys import member, post_id_of
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.posts import hydrate
from queries.shapes import page


async def home_timeline(
    ctx: QueryContext, reader_id: int, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Newest first; the cursor is the last id served, so paging is exact."""
    before = decode_int_cursor(cursor)
    upper = f"({member(before)}" if before is not None else "+"
    members = await ctx.redis.zrange(
        ctx.keys.home(reader_id), upper, "-", desc=True, bylex=True, offset=0, num=limit + 1
    )
    ids = [post_id_of(m) for m in members if isinstance(m, bytes | str)]
    items = await hydrate(ctx, ids[:limit])
    next_cursor = encode_cursor(ids[limit - 1]) if len(ids) > limit else None
    return page(items, next_cursor)
