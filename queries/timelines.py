"""The home timeline: pushed items merged with celebrities' posts, pulled at read time.

Each page merges the reader's kept timeline with the recent items of the
celebrities the reader follows, every source read below the same cursor, so
the order is exact and nothing is skipped or repeated between pages. A warm
page's first round (keep the timeline, find the followed celebrities, read the
sources) is one round trip to the store (``open_home``). A
reader whose timeline is not kept (away longer than the active window, or
never seen) gets it rebuilt from the read models first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from operator import itemgetter

from ports.projectors import READ_MODELS
from ports.timelines import Place, TimelineItem
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.hydration import hydrate
from queries.positions import wait_for_position
from queries.shapes import Page, Post, page

MAX_ROUNDS = 5
REBUILD_PUSH = 200
"""Items per push of a rebuild."""
RETRY_REBUILD_TTL_S = 30


async def followed_celebrities(ctx: QueryContext, reader_id: int,
                               celebrities: list[int] | None = None) -> list[int]:
    timelines = ctx.timelines.pinned()
    if celebrities is None:
        celebrities = await timelines.celebrities()
    if not celebrities:
        return []
    follows = await timelines.following_among(reader_id, celebrities)
    return [c for c, followed in zip(celebrities, follows, strict=True) if followed]


async def keep_timeline(ctx: QueryContext, reader_id: int) -> list[int]:
    """Mark the reader active; rebuild the timeline if it is not kept. Answers the
    celebrities (read in the same round trip, for the merge)."""
    ctx = ctx.pinned()  # the rebuild writes the copy keep_alive found
    kept, celebrities = await ctx.timelines.keep_alive(reader_id, ctx.policy.active_ttl_s)
    if not kept:
        await rebuild_timeline(ctx, reader_id)
    return celebrities


async def rebuild_timeline(ctx: QueryContext, reader_id: int) -> None:
    """Fill a timeline from the read models without losing concurrent pushes.

    The timeline is marked kept first, so any event the timeline projector
    handles from then on pushes into it. Every event it handled before was
    committed before the mark, so it is at or below the event store's head
    read just after marking: waiting for the read models to reach that head
    puts all of those into what is read back. Pushing the same item twice
    changes nothing, so the overlap is harmless.
    """
    started = time.perf_counter()
    await ctx.timelines.mark_kept(reader_id, ctx.policy.active_ttl_s)
    head = await ctx.event_log.head()
    complete = await wait_for_position(ctx, head, (READ_MODELS,), ctx.policy.rebuild_wait_s)
    celebrities = await ctx.timelines.celebrities()
    rows = sorted(await ctx.read_models.rebuild_items(
        reader_id, celebrities, ctx.policy.max_entries), key=itemgetter(0), reverse=True)
    # Oldest first, as live fan-out would have pushed them: the first item
    # showing a post wins, so a rebuilt timeline equals a pushed one.
    items: list[TimelineItem] = list(reversed(rows[: ctx.policy.max_entries]))
    for start in range(0, len(items), REBUILD_PUSH):
        await ctx.timelines.push([reader_id], items[start:start + REBUILD_PUSH])
    if not complete:
        # The read models lagged: serve what there is, but rebuild again soon
        # rather than keep a timeline that may have a hole.
        await ctx.timelines.keep_for(reader_id, RETRY_REBUILD_TTL_S)
    ctx.on_rebuild(complete, time.perf_counter() - started)


async def _candidates(ctx: QueryContext, reader_id: int, celebrities: list[int],
                      below: int | None, want: int) -> tuple[list[TimelineItem], bool]:
    """The next ``want`` items below ``below`` across all sources, newest first."""
    return _merged(await ctx.timelines.slices(reader_id, celebrities, below, want), want)


def _merged(results: Sequence[Sequence[TimelineItem]], want: int
            ) -> tuple[list[TimelineItem], bool]:
    """The newest ``want`` items of the sources' slices, and whether there may be more."""
    merged = sorted({item for found in results for item in found}, key=itemgetter(0),
                    reverse=True)
    more = len(merged) > want or any(len(found) >= want for found in results)
    return merged[:want], more


async def _opened(ctx: QueryContext, reader_id: int, below: int | None, want: int
                  ) -> tuple[list[int], tuple[list[TimelineItem], bool] | None]:
    """The celebrities the reader follows and, for a kept timeline, the first round's
    candidates: one round trip (``open_home``). A timeline not kept is rebuilt first,
    and its candidates left to the first round (``None``)."""
    start = await ctx.timelines.open_home(reader_id, ctx.policy.active_ttl_s, below, want)
    if start.kept:
        return list(start.followed), _merged(start.slices, want)
    await rebuild_timeline(ctx, reader_id)
    return await followed_celebrities(ctx, reader_id, list(start.celebrities)), None


async def _oldest_items(ctx: QueryContext, reader_id: int, celebrities: list[int],
                        candidates: list[TimelineItem]) -> dict[int, int]:
    """For each original on the page, the id of the oldest item the reader reaches
    it by, pushed or pulled.

    The push keeps one item per post in a timeline (its oldest); items pulled
    from celebrities are merged at read time, so the same rule is applied here
    across both, whatever page each item falls on. A post's own item is older
    than any repost of it, so an original whose own item is a candidate needs
    no lookup. For the others (shown by a repost) the store's ``reach`` finds
    every other way to it in one round trip: the post itself pushed, the
    repost the timeline's index shows it by, its author (whose authored items
    hold it if the author is a followed celebrity) and the reposts of every
    followed celebrity; a second round trip checks that those are still there.
    """
    own = {item for item, original in candidates if original is None}
    originals = sorted({original for _, original in candidates
                        if original is not None and original not in own})
    found: dict[int, list[int]] = {post: [post] for post in own}
    if not originals:
        return {post: items[0] for post, items in found.items()}
    followed = set(celebrities)
    to_check: list[tuple[Place, int, TimelineItem]] = []  # where, whose, which item
    for original, reach in zip(originals, await ctx.timelines.reach(
            reader_id, originals, celebrities), strict=True):
        items = found.setdefault(original, [])
        if reach.in_timeline:
            items.append(original)
        if reach.indexed_repost is not None:
            to_check.append(("timeline", reader_id, (reach.indexed_repost, original)))
        if reach.author_id is not None and reach.author_id in followed:
            to_check.append(("authored", reach.author_id, (original, None)))
        for celebrity, repost in zip(celebrities, reach.celebrity_reposts, strict=True):
            if repost is not None:
                to_check.append(("authored", celebrity, (repost, original)))
    # an index may name an item since trimmed away: count only live ones
    live = await ctx.timelines.contains(to_check)
    for (_, _, (item, of_post)), present in zip(to_check, live, strict=True):
        if present:  # a post's own item, or a repost of it
            found[item if of_post is None else of_post].append(item)
    return {original: min(items) for original, items in found.items() if items}


async def home_timeline(
    ctx: QueryContext, reader_id: int, cursor: str | None, limit: int
) -> Page[Post]:
    """Newest first; each post once per page; the cursor is the last item served."""
    ctx = ctx.pinned()  # one copy of the timelines for the whole read
    below = decode_int_cursor(cursor)
    celebrities, first = await _opened(ctx, reader_id, below, limit + 1)
    items: list[Post] = []
    seen: set[int] = set()
    more = True
    for _ in range(MAX_ROUNDS):
        candidates, more = first or await _candidates(ctx, reader_id, celebrities, below,
                                                      limit + 1)
        first = None
        more = more or len(candidates) > limit
        oldest = await _oldest_items(ctx, reader_id, celebrities, candidates) \
            if celebrities else {}
        fresh: list[TimelineItem] = []
        for item, original in candidates:
            if oldest.get(original or item, item) != item:
                continue  # an older item shows this post, on this page or a later one
            if (original or item) not in seen:
                seen.add(original or item)
                fresh.append((item, original))
        for post in await hydrate(ctx, fresh, reader_id, hide_muted=True):
            items.append(post)
            if len(items) == limit:
                break
        if len(items) == limit or not more or not candidates:
            break
        below = candidates[-1][0]
    if len(items) == limit and more:
        next_cursor: str | None = encode_cursor(items[-1]["id"])
    elif more and candidates:  # rounds ran out on hidden items: resume below them
        next_cursor = encode_cursor(candidates[-1][0])
    else:
        next_cursor = None
    return page(items, next_cursor)
