"""Turning timeline items into API posts: cache first, one round trip per store.

Per page: one Redis round trip (bodies not in the in-process cache, and every
post's counts), PostgreSQL only for what Redis lacks (loaded once however
many requests miss the same post at the same time), and one PostgreSQL
pipeline for authors, reposters, the reader's likes and reposts, and whom
the reader must not see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from infra.serialization import rfc3339
from ports.post_cache import Counts
from queries.context import QueryContext
from queries.hydration_cache import Loaded
from queries.shapes import ACCOUNT_COLUMNS, account_shape
from queries.visibility import Hidden

TimelineItem = tuple[int, int | None]
"""(item id, original post id for a repost or ``None``)."""

_BODY_SQL = (
    "SELECT id, author_id, text, created_at, reply_to_id, quote_of_id, mentions, hashtags, "
    "likes_count, replies_count, reposts_count, (deleted_at IS NOT NULL)::int "
    "FROM rm_posts WHERE id = ANY(%s)"
)



async def load_from_postgres(ctx: QueryContext, post_ids: list[int]) -> dict[int, Loaded]:
    """Each of ``post_ids``'s (body, counts) from ``rm_posts``: (None, counts) for a
    deleted post, (None, None) for one the read model does not have."""
    async with ctx.pool.connection() as conn:
        cur = await conn.execute(_BODY_SQL, (post_ids,))
        rows = await cur.fetchall()
    loaded: dict[int, Loaded] = {i: (None, None) for i in post_ids}
    for row in rows:
        body = {"id": row[0], "author_id": row[1], "text": row[2],
                "created_at": rfc3339(row[3]), "reply_to_id": row[4], "quote_of_id": row[5],
                "mentions": list(row[6]), "hashtags": list(row[7])}
        counts = {"likes_count": row[8], "replies_count": row[9], "reposts_count": row[10],
                  "deleted": row[11]}
        loaded[int(row[0])] = (None if row[11] else body, counts)
    return loaded


async def _single_flight(ctx: QueryContext, post_ids: list[int]
                         ) -> dict[int, Loaded]:
    """Load ``post_ids`` from PostgreSQL, sharing loads already under way in this process."""
    loop = asyncio.get_running_loop()
    in_flight = ctx.hydration.in_flight
    waiting = {i: in_flight[i] for i in post_ids if i in in_flight}
    mine = [i for i in post_ids if i not in waiting]
    futures = {i: loop.create_future() for i in mine}
    in_flight.update(futures)
    try:
        load = ctx.load_posts or load_from_postgres
        loaded = await load(ctx, mine) if mine else {}
        for post_id, future in futures.items():
            future.set_result(loaded[post_id])
    except BaseException as error:
        for future in futures.values():
            if not future.done():
                future.set_exception(error)
        raise
    finally:
        for post_id in mine:
            in_flight.pop(post_id, None)
    for post_id, future in waiting.items():
        loaded[post_id] = await future
    if ctx.post_cache is not None and mine:
        await ctx.post_cache.fill(
            {i: b for i in mine if (b := loaded[i][0]) is not None},
            {i: c for i in mine if (c := loaded[i][1]) is not None},
        )
    return loaded


async def post_bodies(ctx: QueryContext, post_ids: Sequence[int]
                      ) -> dict[int, tuple[dict[str, Any], Counts]]:
    """Live posts among ``post_ids``: (immutable body, counts)."""
    ids = list(dict.fromkeys(post_ids))
    hot = ctx.hydration.bodies
    local = {i: hot[i] for i in ids if i in hot}
    bodies: dict[int, dict[str, Any]] = dict(local)
    counts: dict[int, Counts] = {}
    if ctx.post_cache is not None:
        cached_bodies, counts = await ctx.post_cache.get_many(
            ids, [i for i in ids if i not in local])
        bodies.update(cached_bodies)
    missing = [i for i in ids if i not in bodies or i not in counts]
    if missing:
        for post_id, (body, post_counts) in (await _single_flight(ctx, missing)).items():
            if body is not None:
                bodies[post_id] = body
            if post_counts is not None:
                counts[post_id] = post_counts
    live: dict[int, tuple[dict[str, Any], Counts]] = {}
    for post_id in ids:
        if post_id in bodies and post_id in counts and not counts[post_id]["deleted"]:
            hot[post_id] = bodies[post_id]
            live[post_id] = (bodies[post_id], counts[post_id])
    return live


# Small per-page facts in one query, each row tagged with what it says.
_FACTS_SQL = (
    "SELECT 'parent', id FROM rm_posts WHERE id = ANY(%(parents)s) AND deleted_at IS NULL "
    "UNION ALL SELECT 'liked', post_id FROM rm_likes "
    " WHERE account_id = %(r)s AND post_id = ANY(%(posts)s) AND active "
    "UNION ALL SELECT 'reposted', post_id FROM rm_reposts "
    " WHERE account_id = %(r)s AND post_id = ANY(%(posts)s) AND active "
    "UNION ALL SELECT 'blocked', blocked_id FROM rm_blocks WHERE blocker_id = %(r)s AND active "
    "UNION ALL SELECT 'blocked', blocker_id FROM rm_blocks WHERE blocked_id = %(r)s AND active "
    "UNION ALL SELECT 'muted', muted_id FROM rm_mutes WHERE muter_id = %(r)s AND active"
)


async def _reader_facts(ctx: QueryContext, reader_id: int | None, author_ids: set[int],
                        repost_ids: list[int], post_ids: list[int], parent_ids: list[int]
                        ) -> dict[str, Any]:
    """Everything else a page needs from PostgreSQL: three queries, one round trip."""
    async with ctx.pool.connection() as conn, conn.pipeline():
        authors = await conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.id = ANY(%s)",  # noqa: S608
            (list(author_ids),))
        reposts = await conn.execute(
            f"SELECT r.repost_id, r.since, {ACCOUNT_COLUMNS} FROM rm_reposts r "  # noqa: S608
            "JOIN rm_accounts a ON a.id = r.account_id WHERE r.repost_id = ANY(%s) AND r.active",
            (repost_ids,)) if repost_ids else None
        small = await conn.execute(_FACTS_SQL, {"parents": parent_ids, "posts": post_ids,
                                                "r": reader_id if reader_id is not None else 0})
        tagged: dict[str, set[int]] = {tag: set() for tag in
                                       ("parent", "liked", "reposted", "blocked", "muted")}
        for tag, value in await small.fetchall():
            tagged[tag].add(int(value))
        return {
            "authors": {int(r[0]): account_shape(r) for r in await authors.fetchall()},
            "reposts": {int(r[0]): (rfc3339(r[1]), account_shape(r[2:]), int(r[2]))
                        for r in await reposts.fetchall()} if reposts else {},
            "live_parents": tagged["parent"],
            "liked": tagged["liked"],
            "reposted": tagged["reposted"],
            "hidden": Hidden(frozenset(tagged["blocked"]), frozenset(tagged["muted"])),
        }


def _post(body: dict[str, Any], counts: Counts, author: dict[str, Any], facts: dict[str, Any]
          ) -> dict[str, Any]:
    post_id, parent = body["id"], body["reply_to_id"]
    return {
        "id": str(post_id), "author": author, "text": body["text"],
        "created_at": body["created_at"],
        "reply_to_id": None if parent is None else str(parent),
        "reply_to_available": None if parent is None else (
            parent in facts["live_parents"]),
        "quote_of_id": None if body["quote_of_id"] is None else str(body["quote_of_id"]),
        "repost_of": None, "mentions": body["mentions"], "hashtags": body["hashtags"],
        "media": [], "likes_count": counts["likes_count"],
        "replies_count": counts["replies_count"], "reposts_count": counts["reposts_count"],
        "liked": post_id in facts["liked"], "reposted": post_id in facts["reposted"],
    }


async def hydrate(ctx: QueryContext, items: Sequence[TimelineItem], reader_id: int | None,
                  *, hide_muted: bool = False) -> list[dict[str, Any]]:
    """API posts for ``items`` in order, without deleted, blocked (and muted) ones."""
    if not items:
        return []
    originals = [original or item for item, original in items]
    live = await post_bodies(ctx, originals)
    repost_ids = [item for item, original in items if original is not None]
    author_ids = {body["author_id"] for body, _ in live.values()}
    parent_ids = [body["reply_to_id"] for body, _ in live.values()
                  if body["reply_to_id"] is not None]
    facts = await _reader_facts(ctx, reader_id, author_ids, repost_ids, list(live), parent_ids)
    hidden: Hidden = facts["hidden"]
    shaped: list[dict[str, Any]] = []
    for (item, original), post_id in zip(items, originals, strict=True):
        if post_id not in live:
            continue
        body, counts = live[post_id]
        author = facts["authors"].get(body["author_id"])
        if author is None or hidden.hides(body["author_id"], with_mutes=hide_muted):
            continue
        post = _post(body, counts, author, facts)
        if original is None:
            shaped.append(post)
            continue
        repost = facts["reposts"].get(item)
        if repost is None or hidden.hides(repost[2], with_mutes=hide_muted):
            continue
        shaped.append(_repost(item, repost, post))
    return shaped


def _repost(item: int, repost: tuple[str, dict[str, Any], int], original: dict[str, Any]
            ) -> dict[str, Any]:
    since, reposter, _ = repost
    return {
        "id": str(item), "author": reposter, "text": "", "created_at": since,
        "reply_to_id": None, "reply_to_available": None, "quote_of_id": None,
        "repost_of": original, "mentions": [], "hashtags": [], "media": [],
        "likes_count": 0, "replies_count": 0, "reposts_count": 0, "liked": False,
        "reposted": False,
    }
