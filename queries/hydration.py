"""Turning timeline items into API posts: cache first, one round trip per store.

Per page: one round trip to the post cache (bodies not in the in-process
cache, and every post's counts), the read models only for what the cache
lacks (loaded once however many requests miss the same post at the same
time); then the page's facts (``ports.page_facts``: authors, reposts, the
reader's likes and reposts, whom the reader must not see) from the facts
cache, beside the parents' counts and bodies from the post cache, and a
last round trip to the facts cache only for reposters and parents' authors
not already known. Only what the caches lack is read from the read models
(``ReadModelReader.facts``), and filled in. Without a facts cache, the
facts are one round trip to the read models (``ReadModelReader.page_rows``).

A page whose bodies the process holds (a warm page) knows its authors, parents
and pairs before reading anything, so its post-cache and facts-cache reads go in
one round trip (``QueryContext.page_reads``, ``ports.page_facts.PageReads``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from domain.moments import rfc3339
from ports.page_facts import (
    BLOCKED,
    MUTED,
    FactKeys,
    Facts,
    FactsCache,
    ShownAccount,
    pairs,
)
from ports.post_cache import Counts, PostBody
from ports.read_model_reader import HiddenAccounts
from queries.context import QueryContext
from queries.hydration_cache import Loaded
from queries.media import served_media
from queries.shapes import Account, Media, Post, account, account_of_row, post
from queries.visibility import hides

TimelineItem = tuple[int, int | None]
"""(item id, original post id for a repost or ``None``)."""


async def load_from_read_models(ctx: QueryContext, post_ids: list[int]) -> dict[int, Loaded]:
    """Each of ``post_ids``'s (body, counts) from the read models: (None, counts) for a
    deleted post, (None, None) for one the read models do not have."""
    rows = await ctx.read_models.posts(post_ids)
    loaded: dict[int, Loaded] = {i: (None, None) for i in post_ids}
    for row in rows:
        body: PostBody = {
            "id": row["id"], "author_id": row["author_id"], "text": row["text"],
            "created_at": rfc3339(row["created_at"]), "reply_to_id": row["reply_to_id"],
            "quote_of_id": row["quote_of_id"], "mentions": list(row["mentions"]),
            "hashtags": list(row["hashtags"]), "media_ids": list(row["media_ids"])}
        counts = {"likes_count": row["likes_count"], "replies_count": row["replies_count"],
                  "reposts_count": row["reposts_count"], "deleted": row["deleted"]}
        loaded[int(row["id"])] = (None if row["deleted"] else body, counts)
    return loaded


async def _single_flight(ctx: QueryContext, post_ids: list[int]
                         ) -> dict[int, Loaded]:
    """Load ``post_ids`` from the read models, sharing loads already under way in this
    process."""
    loop = asyncio.get_running_loop()
    in_flight = ctx.hydration.in_flight
    waiting = {i: in_flight[i] for i in post_ids if i in in_flight}
    mine = [i for i in post_ids if i not in waiting]
    futures = {i: loop.create_future() for i in mine}
    in_flight.update(futures)
    try:
        load = ctx.load_posts or load_from_read_models
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
    local = {i: body for i in ids if (body := hot.get(i)) is not None}
    bodies: dict[int, PostBody] = dict(local)
    counts: dict[int, Counts] = {}
    if ctx.post_cache is not None:
        cached_bodies, counts = await ctx.post_cache.get_many(
            ids, [i for i in ids if i not in local])
        bodies.update(cached_bodies)
    return await _live(ctx, ids, local, bodies, counts)


async def _live(ctx: QueryContext, ids: list[int], local: Mapping[int, PostBody],
                bodies: dict[int, PostBody], counts: dict[int, Counts]
                ) -> dict[int, tuple[PostBody, Counts]]:
    """The live posts among ``ids`` from what the caches gave (``bodies``, ``counts``;
    ``local``: the bodies the process held), after loading what they lack."""
    # A post marked deleted stays deleted: its counts say so, no body to load.
    missing = [i for i in ids if i not in counts or (i not in bodies
                                                     and not counts[i]["deleted"])]
    if missing:
        for post_id, (body, post_counts) in (await _single_flight(ctx, missing)).items():
            if body is not None:
                bodies[post_id] = body
            if post_counts is not None:
                counts[post_id] = post_counts
    hot = ctx.hydration.bodies
    live: dict[int, tuple[PostBody, Counts]] = {}
    for post_id in ids:
        if post_id in bodies and post_id in counts and not counts[post_id]["deleted"]:
            if post_id not in local:  # kept BODY_TTL_S from when it was first held,
                hot[post_id] = bodies[post_id]  # not set again (1.6 % of a read's CPU)
            live[post_id] = (bodies[post_id], counts[post_id])
    return live


class Repost(NamedTuple):
    """A repost item: when, by whom (``reposter_id`` for the visibility rules)."""

    since: datetime | str
    reposter: Account
    reposter_id: int


@dataclass(frozen=True, slots=True)
class ReaderFacts:
    """What a page needs from the read models besides the bodies and counts.

    ``authors``: account id -> Account; ``reposts``: repost item id -> Repost;
    ``live_parents``: the parents on the page not deleted; ``liked`` and
    ``reposted``: the reader's; ``hidden``: whom the reader must not see.
    """

    authors: dict[int, Account]
    reposts: dict[int, Repost]
    live_parents: set[int]
    liked: set[int]
    reposted: set[int]
    hidden: HiddenAccounts


async def _reader_facts(ctx: QueryContext, reader_id: int | None, author_ids: set[int],
                        repost_ids: list[int], post_ids: list[int], parent_ids: list[int]
                        ) -> ReaderFacts:
    """Everything else a page needs: from the facts cache when there is one (and only
    what it lacks from the read models), else in one round trip to the read models."""
    if ctx.facts is not None:
        return await _cached_facts(ctx, reader_id, author_ids, repost_ids, post_ids,
                                   parent_ids)
    rows = await ctx.read_models.page_rows(reader_id, author_ids, repost_ids, post_ids,
                                           parent_ids)
    return ReaderFacts(
        authors={r["id"]: account_of_row(r) for r in rows.authors},
        reposts={r["repost_id"]: Repost(r["since"], account_of_row(r), r["id"])
                 for r in rows.reposts},
        live_parents=rows.live_parents,
        liked=rows.liked,
        reposted=rows.reposted,
        hidden=rows.hidden,
    )


async def known_facts(ctx: QueryContext, keys: FactKeys) -> Facts:
    """Every fact of ``keys``: the facts cache's, and what it lacks from the read models
    (then filled in: only where the cache holds nothing, as the projector's may be
    newer); all from the read models without a facts cache."""
    cache = ctx.facts
    if cache is None:
        return await ctx.read_models.facts(keys) if keys else Facts()
    return await _completed(ctx, cache, keys, await cache.get(keys) if keys else Facts())


async def _completed(ctx: QueryContext, cache: FactsCache, keys: FactKeys, facts: Facts
                     ) -> Facts:
    """``facts`` (the cache's answer for ``keys``) with what it lacks read from the read
    models and filled in."""
    missing = facts.missing(keys)
    if missing:
        loaded = await ctx.read_models.facts(missing)
        await cache.fill(loaded)
        facts.update(loaded)
    return facts


def _shown(row: ShownAccount) -> Account:
    return account(id=row["id"], username=row["username"], display_name=row["display_name"],
                   bio=row["bio"], avatar_url=row["avatar_url"],
                   created_at=row["created_at"],
                   followers_count=row["followers_count"],
                   following_count=row["following_count"], posts_count=row["posts_count"])


async def _cached_facts(ctx: QueryContext, reader_id: int | None, author_ids: set[int],
                        repost_ids: list[int], post_ids: list[int], parent_ids: list[int]
                        ) -> ReaderFacts:
    """``_reader_facts`` from the facts cache: the facts of the authors, the reposts and
    the reader's pairs beside the parents (``post_bodies``), then the reposters' and
    the parents' authors' that were not among them."""
    keys = _page_keys(reader_id, author_ids, repost_ids, post_ids)
    if parent_ids:
        facts, parents = await asyncio.gather(known_facts(ctx, keys),
                                              post_bodies(ctx, parent_ids))
    else:
        facts, parents = await known_facts(ctx, keys), {}
    return await _shown_facts(ctx, reader_id, author_ids, facts, parents)


def _page_keys(reader_id: int | None, author_ids: set[int], repost_ids: list[int],
               post_ids: list[int]) -> FactKeys:
    """The facts of a page's authors, its repost items and the reader's pairs."""
    return FactKeys(accounts=frozenset(author_ids), reposts=frozenset(repost_ids),
                    liked=pairs(reader_id, post_ids), reposted=pairs(reader_id, post_ids),
                    hidden=pairs(reader_id, author_ids))


async def _shown_facts(ctx: QueryContext, reader_id: int | None, author_ids: set[int],
                       facts: Facts, parents: Mapping[int, tuple[PostBody, Counts]]
                       ) -> ReaderFacts:
    """``ReaderFacts`` from the page's ``facts`` and its live ``parents``, after one
    more read for the reposters' and the parents' authors' facts not among them."""
    reposters = {r.reposter_id for r in facts.reposts.values() if r is not None}
    more = (reposters | {body["author_id"] for body, _ in parents.values()}) - author_ids
    if more:
        facts.update(await known_facts(ctx, FactKeys(
            accounts=frozenset(more), hidden=pairs(reader_id, reposters - author_ids))))
    authors = {i: _shown(row) for i, row in facts.accounts.items() if row is not None}
    reposts = {item: Repost(r.since, authors[r.reposter_id], r.reposter_id)
               for item, r in facts.reposts.items()
               if r is not None and r.reposter_id in authors}
    return ReaderFacts(
        authors=authors,
        reposts=reposts,
        live_parents={i for i, (body, _) in parents.items() if body["author_id"] in authors},
        liked={post_id for (_, post_id), on in facts.liked.items() if on},
        reposted={post_id for (_, post_id), on in facts.reposted.items() if on},
        hidden=HiddenAccounts(
            blocked=frozenset(i for (_, i), bits in facts.hidden.items() if bits & BLOCKED),
            muted=frozenset(i for (_, i), bits in facts.hidden.items() if bits & MUTED)),
    )


def _post(body: PostBody, counts: Counts, author: Account, facts: ReaderFacts,
          media: dict[int, Media]) -> Post:
    post_id, parent = body["id"], body["reply_to_id"]
    return post(
        id=post_id, author=author, text=body["text"], created_at=body["created_at"],
        reply_to_id=parent, quote_of_id=body["quote_of_id"], mentions=body["mentions"],
        hashtags=body["hashtags"],
        reply_to_available=None if parent is None else parent in facts.live_parents,
        likes_count=counts["likes_count"], replies_count=counts["replies_count"],
        reposts_count=counts["reposts_count"], liked=post_id in facts.liked,
        reposted=post_id in facts.reposted,
        media=[media[i] for i in body.get("media_ids", ()) if i in media])


def _parent_ids(bodies: Iterable[PostBody]) -> list[int]:
    return list(dict.fromkeys(parent for body in bodies
                              if (parent := body["reply_to_id"]) is not None))


def _media_ids(bodies: Iterable[PostBody]) -> list[int]:
    return [i for body in bodies for i in body.get("media_ids", ())]


def _held_page(ctx: QueryContext, originals: Sequence[int]) -> dict[int, PostBody] | None:
    """The bodies of every one of ``originals`` when the process holds them all and the
    page's cache reads can share one round trip (``ctx.page_reads``); else ``None``."""
    reads = ctx.page_reads
    if reads is None or not reads.serves(ctx.post_cache, ctx.facts):
        return None
    hot = ctx.hydration.bodies
    held: dict[int, PostBody] = {}
    for post_id in originals:
        body = hot.get(post_id)
        if body is None:
            return None
        held[post_id] = body
    return held


async def _held_page_facts(ctx: QueryContext, held: dict[int, PostBody],
                           reader_id: int | None, repost_ids: list[int]
                           ) -> tuple[dict[int, tuple[PostBody, Counts]], ReaderFacts]:
    """A page whose bodies the process holds (``held``): its live posts and its facts,
    with the post cache's read (every post's counts, the parents) and the facts cache's
    (the authors, the reposts, the reader's pairs) in one round trip
    (``ports.page_facts.PageReads``). The keys are those of every post held, deleted
    ones included (their counts are not read yet): a few facts more than needed, never
    fewer."""
    reads, cache = ctx.page_reads, ctx.facts
    assert reads is not None and cache is not None  # _held_page checked
    author_ids = {body["author_id"] for body in held.values()}
    parent_ids = _parent_ids(held.values())  # some may be on the page themselves
    hot = ctx.hydration.bodies
    local = dict(held)
    for parent in parent_ids:
        if parent not in local and (body := hot.get(parent)) is not None:
            local[parent] = body
    ids = list(dict.fromkeys([*held, *parent_ids]))
    keys = _page_keys(reader_id, author_ids, repost_ids, list(held))
    bodies, counts, facts = await reads.get(ids, [i for i in parent_ids if i not in local],
                                            keys)
    every = await _live(ctx, ids, local, {**local, **bodies}, counts)
    facts = await _completed(ctx, cache, keys, facts)
    live = {i: every[i] for i in held if i in every}
    parents = {i: every[i] for i in parent_ids if i in every}
    return live, await _shown_facts(ctx, reader_id, author_ids, facts, parents)


async def hydrate(ctx: QueryContext, items: Sequence[TimelineItem], reader_id: int | None,
                  *, hide_muted: bool = False) -> list[Post]:
    """API posts for ``items`` in order, without deleted, blocked (and muted) ones."""
    if not items:
        return []
    originals = [original or item for item, original in items]
    repost_ids = [item for item, original in items if original is not None]
    held = _held_page(ctx, originals)
    # The media (whose descriptions change) beside the facts: one more round trip, only
    # for a page that shows media.
    if held is not None:
        (live, facts), media = await asyncio.gather(
            _held_page_facts(ctx, held, reader_id, repost_ids),
            served_media(ctx, _media_ids(held.values())))
    else:
        live = await post_bodies(ctx, originals)
        bodies = [body for body, _ in live.values()]
        facts, media = await asyncio.gather(
            _reader_facts(ctx, reader_id, {body["author_id"] for body in bodies},
                          repost_ids, list(live), _parent_ids(bodies)),
            served_media(ctx, _media_ids(bodies)))
    hidden = facts.hidden
    shaped: list[Post] = []
    for (item, original), post_id in zip(items, originals, strict=True):
        if post_id not in live:
            continue
        body, counts = live[post_id]
        author = facts.authors.get(body["author_id"])
        if author is None or hides(hidden, body["author_id"], with_mutes=hide_muted):
            continue
        shown = _post(body, counts, author, facts, media)
        if original is None:
            shaped.append(shown)
            continue
        repost = facts.reposts.get(item)
        if repost is None or hides(hidden, repost.reposter_id, with_mutes=hide_muted):
            continue
        # A repost item: its own id and time, the reposter, no text or counts of its own.
        shaped.append(post(id=item, author=repost.reposter, text="", created_at=repost.since,
                           reply_to_id=None, quote_of_id=None, mentions=[], hashtags=[],
                           reply_to_available=None, repost_of=shown))
    return shaped
