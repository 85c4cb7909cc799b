"""The home timeline: pushed items merged with celebrities' posts, pulled at read time.

Each page merges the reader's kept timeline with the recent items of the
celebrities the reader follows, every source read below the same cursor, so
the order is exact and nothing is skipped or repeated between pages. A
reader whose timeline is not kept (away longer than the active window, or
never seen) gets it rebuilt from the read models first.
"""

from __future__ import annotations

import time

from infra.eventlog import max_position
from infra.metrics import TIMELINE_REBUILD_SECONDS, TIMELINE_REBUILDS
from infra.redis_keys import REPOSTS_AUTHOR_FIELD, SENTINEL, member, parse_member
from ports.projectors import READ_MODELS
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.hydration import TimelineItem, hydrate
from queries.positions import wait_for_position
from queries.shapes import Page, Post, page

MAX_ROUNDS = 5
RETRY_REBUILD_TTL_S = 30

_REBUILD_SQL = (
    "WITH authors AS ("
    " SELECT followee_id AS id FROM rm_follows WHERE follower_id = %(r)s AND active"
    " AND followee_id <> ALL(%(celebs)s) UNION SELECT %(r)s) "
    "(SELECT p.id, NULL::bigint FROM rm_posts p JOIN authors a ON p.author_id = a.id"
    " WHERE p.deleted_at IS NULL ORDER BY p.id DESC LIMIT %(n)s) "
    "UNION ALL "
    "(SELECT r.repost_id, r.post_id FROM rm_reposts r JOIN authors a ON r.account_id = a.id"
    " JOIN rm_posts p ON p.id = r.post_id AND p.deleted_at IS NULL"
    " WHERE r.active ORDER BY r.repost_id DESC LIMIT %(n)s)"
)


async def followed_celebrities(ctx: QueryContext, reader_id: int,
                               celebrities: list[int] | None = None) -> list[int]:
    if celebrities is None:
        celebrities = [int(c) for c in await ctx.redis.smembers(ctx.keys.celebrities())]
    if not celebrities:
        return []
    follows = await ctx.redis.smismember(ctx.keys.following(reader_id), celebrities)
    return [c for c, followed in zip(celebrities, follows, strict=True) if followed]


async def keep_timeline(ctx: QueryContext, reader_id: int) -> list[int]:
    """Mark the reader active; rebuild the timeline if it is not kept. Answers the
    celebrities (read in the same round trip, for the merge)."""
    ttl = ctx.policy.active_ttl_s
    async with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.expire(ctx.keys.home(reader_id), ttl)
        pipe.expire(ctx.keys.home_index(reader_id), ttl)
        pipe.smembers(ctx.keys.celebrities())
        kept, _, celebrities = await pipe.execute()
    if not kept:
        await rebuild_timeline(ctx, reader_id)
    return [int(c) for c in celebrities]


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
    await _mark_kept(ctx, reader_id)
    async with ctx.pool.connection() as conn:
        head = await max_position(conn)
    complete = await wait_for_position(ctx, head, (READ_MODELS,), ctx.policy.rebuild_wait_s)
    home = ctx.keys.home(reader_id)
    celebrities = [int(c) for c in await ctx.redis.smembers(ctx.keys.celebrities())]
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_REBUILD_SQL, {"r": reader_id, "celebs": celebrities,
                                                "n": ctx.policy.max_entries})
        rows = sorted(((int(i), o) for i, o in await cur.fetchall()), reverse=True)
    # Oldest first, as live fan-out would have pushed them: the first item
    # showing a post wins, so a rebuilt timeline equals a pushed one.
    items = [(member(i, o), member(o) if o is not None else "")
             for i, o in reversed(rows[: ctx.policy.max_entries])]
    if ctx.timelines is not None:
        for start in range(0, len(items), 200):
            await ctx.timelines.push([reader_id], items[start:start + 200])
    if not complete:
        # The read models lagged: serve what there is, but rebuild again soon
        # rather than keep a timeline that may have a hole.
        await ctx.redis.expire(home, RETRY_REBUILD_TTL_S)
    TIMELINE_REBUILDS.labels("complete" if complete else "lagging").inc()
    TIMELINE_REBUILD_SECONDS.observe(time.perf_counter() - started)


async def _mark_kept(ctx: QueryContext, reader_id: int) -> None:
    """Create the timeline, with the sentinel, so pushes land in it from now on."""
    home = ctx.keys.home(reader_id)
    async with ctx.redis.pipeline(transaction=False) as pipe:
        pipe.zadd(home, {SENTINEL: 0})
        pipe.expire(home, ctx.policy.active_ttl_s)
        await pipe.execute()


async def _candidates(ctx: QueryContext, reader_id: int, celebrities: list[int],
                      upper: str, want: int) -> tuple[list[tuple[str, TimelineItem]], bool]:
    """The next ``want`` items below ``upper`` across all sources, newest first."""
    sources = [ctx.keys.home(reader_id), *(ctx.keys.authored(c) for c in celebrities)]
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for key in sources:
            # Above the kept-marker, so it never counts towards a full batch.
            pipe.zrange(key, upper, f"({SENTINEL}", desc=True, bylex=True, offset=0, num=want)
        results = await pipe.execute()
    merged = sorted({m.decode() if isinstance(m, bytes) else m
                     for found in results for m in found} - {SENTINEL}, reverse=True)
    more = len(merged) > want or any(len(found) >= want for found in results)
    return [(m, parse_member(m)) for m in merged[:want]], more


async def _oldest_items(ctx: QueryContext, reader_id: int, celebrities: list[int],
                        candidates: list[tuple[str, TimelineItem]]) -> dict[int, str]:
    """For each original on the page, the oldest item the reader reaches it by,
    pushed or pulled.

    The push keeps one item per post in a timeline (its oldest); items pulled
    from celebrities are merged at read time, so the same rule is applied here
    across both, whatever page each item falls on. A post's own item is older
    than any repost of it, so an original whose own item is a candidate needs
    no lookup. For the others (shown by a repost) three commands per post
    find every other way to it: the post itself pushed, the repost the
    timeline's index shows it by, and, from its ``repostsof`` hash, its author
    (whose ``authored`` holds it if the author is a followed celebrity) and
    the reposts of every followed celebrity.
    """
    own = {item for _, (item, original) in candidates if original is None}
    originals = sorted({original for _, (_, original) in candidates
                        if original is not None and original not in own})
    found: dict[int, list[str]] = {post: [member(post)] for post in own}
    if not originals:
        return {post: items[0] for post, items in found.items()}
    home, index = ctx.keys.home(reader_id), ctx.keys.home_index(reader_id)
    fields = [REPOSTS_AUTHOR_FIELD, *(str(c) for c in celebrities)]
    async with ctx.redis.pipeline(transaction=False) as pipe:
        for original in originals:
            pipe.zscore(home, member(original))
            pipe.hget(index, member(original))
            pipe.hmget(ctx.keys.reposts_of(original), fields)
        answers = iter(await pipe.execute())
    followed = set(celebrities)
    to_check: list[tuple[int, str, str]] = []  # (original, key holding it, item)
    for original in originals:
        items = found.setdefault(original, [])
        if next(answers) is not None:
            items.append(member(original))
        if indexed := next(answers):
            to_check.append((original, home, _text(indexed)))
        author, *reposted = next(answers)
        if author is not None and int(author) in followed:
            to_check.append((original, ctx.keys.authored(int(author)), member(original)))
        for celebrity, repost in zip(celebrities, reposted, strict=True):
            if repost:
                to_check.append((original, ctx.keys.authored(celebrity), _text(repost)))
    if to_check:  # an index may name an item since trimmed away: count only live ones
        async with ctx.redis.pipeline(transaction=False) as pipe:
            for _, key, item in to_check:
                pipe.zscore(key, item)
            live = await pipe.execute()
        for (original, _, item), score in zip(to_check, live, strict=True):
            if score is not None:
                found[original].append(item)
    return {original: min(items) for original, items in found.items() if items}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def home_timeline(
    ctx: QueryContext, reader_id: int, cursor: str | None, limit: int
) -> Page[Post]:
    """Newest first; each post once per page; the cursor is the last item served."""
    before = decode_int_cursor(cursor)
    celebrities = await followed_celebrities(ctx, reader_id,
                                             await keep_timeline(ctx, reader_id))
    upper = f"({member(before)}" if before is not None else "+"
    items: list[Post] = []
    seen: set[int] = set()
    more = True
    for _ in range(MAX_ROUNDS):
        candidates, more = await _candidates(ctx, reader_id, celebrities, upper, limit + 1)
        more = more or len(candidates) > limit
        oldest = await _oldest_items(ctx, reader_id, celebrities, candidates) \
            if celebrities else {}
        fresh: list[TimelineItem] = []
        for raw, (item, original) in candidates:
            if oldest.get(original or item, raw) != raw:
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
        upper = f"({candidates[-1][0]}"
    if len(items) == limit and more:
        next_cursor: str | None = encode_cursor(items[-1]["id"])
    elif more and candidates:  # rounds ran out on hidden items: resume below them
        next_cursor = encode_cursor(parse_member(candidates[-1][0])[0])
    else:
        next_cursor = None
    return page(items, next_cursor)
