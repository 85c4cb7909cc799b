"""Tag timelines: the newest posts with a hashtag, from the read model ``rm_post_tags``.

``rm_post_tags`` holds one row per tag of each live post (the read-models
projector writes it with the post and deletes it with the post), keyed by
``(tag, post_id)``: a page is one range scan, newest first, below the cursor,
leaving out the authors the reader blocks, is blocked by or mutes (so pages
stay full). The ids are hydrated like every timeline, which drops what was
deleted or hidden since. Why PostgreSQL and not the search index: see
docs/architecture.md ("Tag timelines").
"""

from __future__ import annotations

import unicodedata

from domain.text import extract_hashtags
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor, upper_bound
from queries.hydration import hydrate
from queries.shapes import Page, Post, page
from queries.visibility import hidden_for

_TAGGED = (
    "SELECT post_id FROM rm_post_tags WHERE tag = %s AND post_id < %s "
    "AND author_id <> ALL(%s) ORDER BY post_id DESC LIMIT %s"
)


def normalise_tag(tag: str) -> str | None:
    """The stored form of a tag path segment (NFC, lower case, without a leading ``#``),
    or ``None`` when no post can carry it (not a tag by the post text rule)."""
    body = unicodedata.normalize("NFC", tag).removeprefix("#")
    found = extract_hashtags(f"#{body}")
    return found[0] if found and found[0] == body.lower() else None


async def tag_timeline(ctx: QueryContext, tag: str, reader_id: int | None,
                       cursor: str | None, limit: int) -> Page[Post]:
    """A page of Post with ``tag`` (any case), newest first, cursor-paged exactly
    (``v1:<post id>``); 422 ``invalid_cursor`` for a cursor not issued here."""
    before = upper_bound(decode_int_cursor(cursor))
    stored = normalise_tag(tag)
    if stored is None:
        return page([], None)
    async with ctx.pool.connection() as conn:
        hidden = await hidden_for(conn, reader_id)
        cur = await conn.execute(_TAGGED, (stored, before, sorted(hidden.blocked | hidden.muted),
                                           limit + 1))
        ids = [int(row[0]) for row in await cur.fetchall()]
    items = await hydrate(ctx, [(post_id, None) for post_id in ids[:limit]], reader_id,
                          hide_muted=True)
    return page(items, encode_cursor(ids[limit - 1]) if len(ids) > limit else None)
