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
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from psycopg.rows import dict_row

from domain.moments import rfc3339
from ports.post_cache import Counts, PostBody
from queries.context import QueryContext
from queries.hydration_cache import Loaded
from queries.shapes import ACCOUNT_COLUMNS, Account, Post, account_of_row, post
from queries.visibility import Hidden

TimelineItem = tuple[int, int | None]
"""(item id, original post id for a repost or ``None``)."""

_BODY_SQL = (
    "SELECT id, author_id, text, created_at, reply_to_id, quote_of_id, mentions, hashtags, "
    "likes_count, replies_count, reposts_count, (deleted_at IS NOT NULL)::int AS deleted "
    "FROM rm_posts WHERE id = ANY(%s)"
)



async def load_from_postgres(ctx: QueryContext, post_ids: list[int]) -> dict[int, Loaded]:
    """Each of ``post_ids``'s (body, counts) from ``rm_posts``: (None, counts) for a
    deleted post, (None, None) for one the read model does not have."""
    async with ctx.pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_BODY_SQL, (post_ids,))
        rows = await cur.fetchall()
    loaded: dict[int, Loaded] = {i: (None, None) for i in post_ids}
    for row in rows:
        body: PostBody = {
            "id": row["id"], "author_id": row["author_id"], "text": row["text"],
            "created_at": rfc3339(row["created_at"]), "reply_to_id": row["reply_to_id"],
            "quote_of_id": row["quote_of_id"], "mentions": list(row["mentions"]),
            "hashtags": list(row["hashtags"])}
        counts = {"likes_count": row["likes_count"], "replies_count": row["replies_count"],
                  "reposts_count": row["reposts_count"], "deleted": row["deleted"]}
        loaded[int(row["id"])] = (None if row["deleted"] else body, counts)
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
        # The post cache keeps each body as the JSON object it is given.
        await ctx.post_cache.fill(
            {i: b for i in mine if (b := loaded[i][0]) is not None},
            {i: c for i in mine if (c := loaded[i][1]) is not None},
        )
    return loaded


async def post_bodies(ctx: QueryContext, post_ids: Sequence[int]
                      ) -> dict[int, tuple[PostBody, Counts]]:
    """Live posts among ``post_ids``: (immutable body, counts)."""
    ids = list(dict.fromkeys(post_ids))
    hot = ctx.hydration.bodies
    local = {i: hot[i] for i in ids if i in hot}
    bodies: dict[int, PostBody] = dict(local)
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
    live: dict[int, tuple[PostBody, Counts]] = {}
    for post_id in ids:
        if post_id in bodies and post_id in counts and not counts[post_id]["deleted"]:
            hot[post_id] = bodies[post_id]
            live[post_id] = (bodies[post_id], counts[post_id])
    return live


# Small per-page facts in one query, each row tagged with what it says.
_FACTS_SQL = (
    "SELECT 'parent' AS tag, id FROM rm_posts WHERE id = ANY(%(parents)s) AND deleted_at IS NULL "
    "UNION ALL SELECT 'liked', post_id FROM rm_likes "
    " WHERE account_id = %(r)s AND post_id = ANY(%(posts)s) AND active "
    "UNION ALL SELECT 'reposted', post_id FROM rm_reposts "
    " WHERE account_id = %(r)s AND post_id = ANY(%(posts)s) AND active "
    "UNION ALL SELECT 'blocked', blocked_id FROM rm_blocks WHERE blocker_id = %(r)s AND active "
    "UNION ALL SELECT 'blocked', blocker_id FROM rm_blocks WHERE blocked_id = %(r)s AND active "
    "UNION ALL SELECT 'muted', muted_id FROM rm_mutes WHERE muter_id = %(r)s AND active"
)


class Repost(NamedTuple):
    """A repost item: when, by whom (``reposter_id`` for the visibility rules)."""

    since: datetime
    reposter: Account
    reposter_id: int


@dataclass(frozen=True, slots=True)
class ReaderFacts:
    """What a page needs from PostgreSQL besides the bodies and counts.

    ``authors``: account id -> Account; ``reposts``: repost item id -> Repost;
    ``live_parents``: the parents on the page not deleted; ``liked`` and
    ``reposted``: the reader's; ``hidden``: whom the reader must not see.
    """

    authors: dict[int, Account]
    reposts: dict[int, Repost]
    live_parents: set[int]
    liked: set[int]
    reposted: set[int]
    hidden: Hidden


async def _reader_facts(ctx: QueryContext, reader_id: int | None, author_ids: set[int],
                        repost_ids: list[int], post_ids: list[int], parent_ids: list[int]
                        ) -> ReaderFacts:
    """Everything else a page needs from PostgreSQL: three queries, one round trip."""
    async with ctx.pool.connection() as conn, conn.pipeline():
        authors = await conn.cursor(row_factory=dict_row).execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.id = ANY(%s)",  # noqa: S608
            (list(author_ids),))
        reposts = await conn.cursor(row_factory=dict_row).execute(
            f"SELECT r.repost_id, r.since, {ACCOUNT_COLUMNS} FROM rm_reposts r "  # noqa: S608
            "JOIN rm_accounts a ON a.id = r.account_id WHERE r.repost_id = ANY(%s) AND r.active",
            (repost_ids,)) if repost_ids else None
        small = await conn.cursor(row_factory=dict_row).execute(
            _FACTS_SQL, {"parents": parent_ids, "posts": post_ids,
                         "r": reader_id if reader_id is not None else 0})
        tagged: dict[str, set[int]] = {tag: set() for tag in
                                       ("parent", "liked", "reposted", "blocked", "muted")}
        for row in await small.fetchall():
            tagged[row["tag"]].add(int(row["id"]))
        return ReaderFacts(
            authors={int(r["id"]): account_of_row(r) for r in await authors.fetchall()},
            reposts={int(r["repost_id"]): Repost(r["since"], account_of_row(r), int(r["id"]))
                     for r in await reposts.fetchall()} if reposts else {},
            live_parents=tagged["parent"],
            liked=tagged["liked"],
            reposted=tagged["reposted"],
            hidden=Hidden(frozenset(tagged["blocked"]), frozenset(tagged["muted"])),
        )


def _post(body: PostBody, counts: Counts, author: Account, facts: ReaderFacts) -> Post:
    post_id, parent = body["id"], body["reply_to_id"]
    return post(
        id=post_id, author=author, text=body["text"], created_at=body["created_at"],
        reply_to_id=parent, quote_of_id=body["quote_of_id"], mentions=body["mentions"],
        hashtags=body["hashtags"],
        reply_to_available=None if parent is None else parent in facts.live_parents,
        likes_count=counts["likes_count"], replies_count=counts["replies_count"],
        reposts_count=counts["reposts_count"], liked=post_id in facts.liked,
        reposted=post_id in facts.reposted)


async def hydrate(ctx: QueryContext, items: Sequence[TimelineItem], reader_id: int | None,
                  *, hide_muted: bool = False) -> list[Post]:
    """API posts for ``items`` in order, without deleted, blocked (and muted) ones."""
    if not items:
        return []
    originals = [original or item for item, original in items]
    live = await post_bodies(ctx, originals)
    repost_ids = [item for item, original in items if original is not None]
    author_ids = {body["author_id"] for body, _ in live.values()}
    parent_ids = [parent for body, _ in live.values()
                  if (parent := body["reply_to_id"]) is not None]
    facts = await _reader_facts(ctx, reader_id, author_ids, repost_ids, list(live), parent_ids)
    hidden = facts.hidden
    shaped: list[Post] = []
    for (item, original), post_id in zip(items, originals, strict=True):
        if post_id not in live:
            continue
        body, counts = live[post_id]
        author = facts.authors.get(body["author_id"])
        if author is None or hidden.hides(body["author_id"], with_mutes=hide_muted):
            continue
        shown = _post(body, counts, author, facts)
        if original is None:
            shaped.append(shown)
            continue
        repost = facts.reposts.get(item)
        if repost is None or hidden.hides(repost.reposter_id, with_mutes=hide_muted):
            continue
        # A repost item: its own id and time, the reposter, no text or counts of its own.
        shaped.append(post(id=item, author=repost.reposter, text="", created_at=repost.since,
                           reply_to_id=None, quote_of_id=None, mentions=[], hashtags=[],
                           reply_to_available=None, repost_of=shown))
    return shaped
