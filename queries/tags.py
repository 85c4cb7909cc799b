"""Tag timelines: the newest posts with a hashtag, from the read models' tag rows.

The read models hold one row per tag of each live post (the read-models
projector adds them with the post and removes them with it; PostgreSQL's
``rm_post_tags``, keyed by ``(tag, post_id)``), read through
``ReadModelReader.tagged_post_ids``: a page is one range scan, newest first,
below the cursor, leaving out the authors the reader blocks, is blocked by or
mutes (so pages stay full). The ids are hydrated like every timeline, which drops what was
deleted or hidden since. Why PostgreSQL and not the search index: see
docs/architecture.md ("Tag timelines").
"""

from __future__ import annotations

import unicodedata

from domain.text import MAX_TAG_CHARS, extract_hashtags
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor, upper_bound
from queries.hydration import hydrate
from queries.shapes import Page, Post, page
from queries.visibility import hidden_for

MAX_TAG_SEGMENT = 8 * MAX_TAG_CHARS + 1
"""The longest path segment that could still name a tag: ``#`` and at most
``MAX_TAG_CHARS`` code points once NFC-composed, each from at most 8 decomposed ones
(a base and its combining marks: generous)."""


def normalise_tag(tag: str) -> str | None:
    """The stored form of a tag path segment (NFC, lower case, without a leading ``#``),
    or ``None`` when no post can carry it (not a tag by the post text rule). A segment
    longer than ``MAX_TAG_SEGMENT`` is ``None`` at once, without reading it."""
    if len(tag) > MAX_TAG_SEGMENT:
        return None
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
    hidden = await hidden_for(ctx.read_models, reader_id)
    ids = await ctx.read_models.tagged_post_ids(stored, before, hidden.blocked | hidden.muted,
                                                limit + 1)
    items = await hydrate(ctx, [(post_id, None) for post_id in ids[:limit]], reader_id,
                          hide_muted=True)
    return page(items, encode_cursor(ids[limit - 1]) if len(ids) > limit else None)
