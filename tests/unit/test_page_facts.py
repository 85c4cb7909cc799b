"""The facts cache (``ports.page_facts``) against the read models, on random histories.

Random histories of accounts, posts and edges go through the read-model projector
(``projections.read_models``) on the in-memory store, handing its facts to the fake
facts cache (and counts to the fake post cache) before each commit, while readers
fill the caches between batches: some with what they read before a batch and fill
only after it (the race the fill-only-where-absent rule is for). Then every fact
the cache holds must equal the read models', and hydration through the caches must
give exactly the posts that ``page_rows`` gives, with no read-model call at all for
a warm page. ``tests/contracts/page_facts.py`` checks the Redis adapter keeps the
same rules; ``tests/integration/test_page_facts.py`` runs this on PostgreSQL and
Redis.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ports.page_facts import FactKeys, Facts, FactsCache, pairs
from ports.post_cache import PostCache
from ports.read_model_reader import ReadModelReader
from ports.read_models import ReadModelStore
from projections.read_models import ReadModelProjector
from queries.context import QueryContext
from queries.hydration import TimelineItem, hydrate, known_facts
from tests.fakes.page_facts import FakeFactsCache
from tests.fakes.post_cache import FakePostCache
from tests.fakes.read_model_reader import (
    FakeReadModelReader,
    ReadModelTables,
    StoredAccount,
    StoredEdge,
    StoredPost,
    StoredRepost,
)
from tests.fakes.read_models import FakeReadModelStore, Tables
from tests.fakes.timelines import FakeTimelineStore
from tests.unit.test_queries_on_fake import NoLog
from tests.unit.test_read_model_policy import Log as PolicyLog

ACCOUNTS = (1, 2, 3, 4, 5)
UNKNOWN_ACCOUNT = 99
EDGES = {  # kind: (on, off, again, end names)
    "likes": ("Liked", "Unliked", "Reliked", ("account_id", "post_id")),
    "reposts": ("Reposted", "Unreposted", "Rereposted", ("account_id", "post_id")),
    "follows": ("Followed", "Unfollowed", "Refollowed", ("follower_id", "followee_id")),
    "blocks": ("Blocked", "Unblocked", "Reblocked", ("blocker_id", "blocked_id")),
    "mutes": ("Muted", "Unmuted", "Remuted", ("muter_id", "muted_id")),
}


class Log(PolicyLog):
    """The policy tests' log with uuids for aggregate ids, as PostgreSQL keeps them."""

    def aggregate_id(self, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


@dataclass
class History:
    """A random history, made step by step (``step``), with what it has made so far."""

    rnd: random.Random
    log: Log = field(default_factory=Log)
    accounts: list[int] = field(default_factory=list)
    suspended: set[int] = field(default_factory=set)
    erased: set[int] = field(default_factory=set)
    posts: dict[int, int] = field(default_factory=dict)  # live post id -> author
    all_posts: list[int] = field(default_factory=list)
    edges: dict[tuple[str, int, int], tuple[bool, int | None]] = field(default_factory=dict)
    repost_ids: list[int] = field(default_factory=list)

    def alive(self) -> list[int]:
        return [i for i in self.accounts if i not in self.erased]

    def step(self) -> None:
        rnd, log = self.rnd, self.log
        unregistered = [i for i in ACCOUNTS if i not in self.accounts]
        alive = self.alive()
        if unregistered and (len(alive) < 2 or rnd.random() < 0.2):
            i = rnd.choice(unregistered)
            self.accounts.append(i)
            log.add("AccountRegistered", f"/accounts/{i}", account_id=i, username=f"user{i}",
                    display_name=f"User {i}")
            return
        kind = rnd.choices(["profile", "suspension", "post", "delete", "erase", "edge"],
                           [1, 1, 3, 1, 0.15, 8])[0]
        who = rnd.choice(alive)
        if kind == "profile":
            log.add("ProfileUpdated", f"/accounts/{who}", display_name=f"U{rnd.random():.3}",
                    bio=rnd.choice(["", "bio"]), avatar_url="")
        elif kind == "suspension":
            off = who in self.suspended
            self.suspended ^= {who}
            log.add("AccountUnsuspended" if off else "AccountSuspended", f"/accounts/{who}",
                    account_id=who, **({} if off else {"reason": ""}), by="cli:test")
        elif kind == "post" or (kind == "delete" and not self.posts):
            post_id = 10 + len(self.all_posts)
            parent = rnd.choice([None, *self.all_posts]) if self.all_posts else None
            self.posts[post_id] = who
            self.all_posts.append(post_id)
            log.add("PostCreated", f"/posts/{post_id}", post_id=post_id, author_id=who,
                    text="t", reply_to_id=parent, quote_of_id=None, mentions=[], hashtags=[])
        elif kind == "delete":
            post_id = rnd.choice(sorted(self.posts))
            log.add("PostDeleted", f"/posts/{post_id}", post_id=post_id,
                    author_id=self.posts.pop(post_id))
        elif kind == "erase" and len(alive) > 2:
            self.erased.add(who)
            self.posts = {p: a for p, a in self.posts.items() if a != who}
            log.add("AccountErased", f"/accounts/{who}", account_id=who, erased_by="operator")
        else:
            self._edge(who)

    def _edge(self, who: int) -> None:
        rnd = self.rnd
        kind = rnd.choice(list(EDGES))
        if kind in ("likes", "reposts"):
            if not self.posts:
                return
            other = rnd.choice(sorted(self.posts))
        else:
            other = rnd.choice([i for i in self.alive() if i != who])
        on, off, again, (a, b) = EDGES[kind]
        state = self.edges.get((kind, who, other))
        extra: dict[str, int] = {}
        if kind in ("likes", "reposts"):
            extra["post_author_id"] = self.posts[other]
        if state is None or not state[0]:
            repost_id = None
            if kind == "reposts":
                repost_id = 1000 + len(self.repost_ids)
                self.repost_ids.append(repost_id)
                extra["repost_id"] = repost_id
            self.edges[kind, who, other] = (True, repost_id)
            type_ = on if state is None else again
        else:
            if kind == "reposts":
                assert state[1] is not None
                extra["repost_id"] = state[1]
            self.edges[kind, who, other] = (False, state[1])
            type_ = off
        self.log.add(type_, f"/{kind}/{who}:{other}", **{a: who, b: other}, **extra)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def reader_tables(tables: Tables) -> ReadModelTables:
    """The store's rows as the fake reader of the read models keeps them."""
    edges = tables.edges
    return ReadModelTables(
        accounts=[StoredAccount(
            row["id"], row["username"], row["display_name"], row["bio"], row["avatar_url"],
            moment(row["created_at"]), row["followers_count"], row["following_count"],
            row["posts_count"], row["suspended_at"] is not None)
            for row in tables.accounts.values()],
        posts=[StoredPost(
            row["id"], row["author_id"], row["text"], moment(row["created_at"]),
            row["reply_to_id"], row["quote_of_id"], list(row["mentions"] or []),
            list(row["hashtags"] or []), row["likes_count"], row["replies_count"],
            row["reposts_count"], row["deleted_at"] is not None, list(row["media_ids"] or []))
            for row in tables.posts.values()],
        follows=[StoredEdge(e.a, e.b, e.active) for e in edges["follows"].values()],
        likes=[StoredEdge(e.a, e.b, e.active) for e in edges["likes"].values()],
        blocks=[StoredEdge(e.a, e.b, e.active) for e in edges["blocks"].values()],
        mutes=[StoredEdge(e.a, e.b, e.active) for e in edges["mutes"].values()],
        reposts=[StoredRepost(e.a, e.b, e.repost_id or 0, e.active, moment(e.since))
                 for e in edges["reposts"].values()],
    )


def every_key(history: History) -> FactKeys:
    readers = [*ACCOUNTS, UNKNOWN_ACCOUNT]
    posts = [*history.all_posts, 9999]
    return FactKeys(
        accounts=frozenset(readers), reposts=frozenset([*history.repost_ids, 9999]),
        liked=frozenset((r, p) for r in readers for p in posts),
        reposted=frozenset((r, p) for r in readers for p in posts),
        hidden=frozenset((r, o) for r in readers for o in readers if r != o))


def random_keys(rnd: random.Random, history: History) -> FactKeys:
    every = every_key(history)

    def some(keys: frozenset[Any]) -> frozenset[Any]:
        return frozenset(rnd.sample(sorted(keys), min(len(keys), rnd.randint(0, 6))))

    return FactKeys(some(every.accounts), some(every.reposts), some(every.liked),
                    some(every.reposted), some(every.hidden))


def context(store: FakeReadModelStore, facts: FakeFactsCache | None,
            posts: FakePostCache | None) -> tuple[QueryContext, FakeReadModelReader]:
    reader = FakeReadModelReader(reader_tables(store.tables))
    return QueryContext(reader, FakeTimelineStore(), NoLog(), post_cache=posts,
                        facts=facts), reader


def random_page(rnd: random.Random, history: History) -> list[TimelineItem]:
    reposts = [(repost_id, post) for (kind, _, post), (_, repost_id) in history.edges.items()
               if kind == "reposts" and repost_id is not None]
    # half the pages only of live posts: pages a reader's process then holds whole
    posts = history.all_posts if rnd.random() < 0.5 or not history.posts else list(history.posts)
    items: list[TimelineItem] = [(p, None) for p in rnd.sample(
        posts, min(len(posts), rnd.randint(1, 8)))]
    items += rnd.sample(reposts, min(len(reposts), rnd.randint(0, 4)))
    rnd.shuffle(items)
    return items


Readers = Callable[[], tuple[QueryContext, ReadModelReader]]
"""A reader's query context over the caches, and the read models it reads."""


async def run_history(rnd: random.Random, store: ReadModelStore, facts: FactsCache,
                      posts: PostCache, readers: Readers) -> History:
    """Project a random history in random batches, readers (``readers``) filling the
    caches between them (some with facts read before the batch)."""
    history = History(rnd)
    projector = ReadModelProjector(store, posts, facts)
    stale: Facts | None = None
    for _ in range(rnd.randint(5, 25)):
        start = len(history.log.events)
        for _ in range(rnd.randint(1, 6)):
            history.step()
        await projector.apply_batch(history.log.events[start:])
        if stale is not None:
            await facts.fill(stale)  # read before the batch, filled after it
            stale = None
        ctx, reader = readers()
        if rnd.random() < 0.5:
            await known_facts(ctx, random_keys(rnd, history))
        if rnd.random() < 0.5 and history.all_posts:
            await hydrate(ctx, random_page(rnd, history), rnd.choice([None, *ACCOUNTS]))
        if rnd.random() < 0.3:
            stale = await reader.facts(random_keys(rnd, history))
    return history


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking a Random: no use
@given(st.randoms(use_true_random=False))
async def test_the_cached_facts_are_the_read_models_and_hydrate_the_same(
    rnd: random.Random,
) -> None:
    store, facts, posts = FakeReadModelStore(), FakeFactsCache(), FakePostCache()
    history = await run_history(rnd, store, facts, posts,
                                lambda: context(store, facts, posts))

    await check_caches(rnd, history, store, facts, lambda cached: context(
        store, facts if cached else None, posts if cached else None))


class Calls(Protocol):
    calls: list[str]


Contexts = Callable[[bool], tuple[QueryContext, Calls]]
"""A query context with the caches (``True``) or without, and what it asks the read
models."""


async def check_caches(rnd: random.Random, history: History, store: ReadModelStore,
                       facts: FactsCache, contexts: Contexts) -> None:
    """Every fact cached is the read models'; pages hydrated through the caches are the
    pages hydrated from the read models alone; a warm page asks the read models nothing."""
    every = every_key(history)
    async with store.transaction() as tx:
        truth = await tx.facts(every)
    cached = await facts.get(every)
    assert cached  # the readers filled some, the projector wrote some
    for name in ("accounts", "reposts", "liked", "reposted", "hidden"):
        held, true = getattr(cached, name), getattr(truth, name)
        assert {k: v for k, v in held.items() if true[k] != v} == {}, name
    for _ in range(5):
        items, reader_id = random_page(rnd, history), rnd.choice([None, *ACCOUNTS])
        for hide_muted in (False, True):
            plain, _ = contexts(False)
            cached_ctx, read_models = contexts(True)
            expected = await hydrate(plain, items, reader_id, hide_muted=hide_muted)
            assert await hydrate(cached_ctx, items, reader_id,
                                 hide_muted=hide_muted) == expected
            read_models.calls.clear()
            assert await hydrate(cached_ctx, items, reader_id,
                                 hide_muted=hide_muted) == expected
            assert read_models.calls == []  # warm: nothing from the read models


def test_pairs_are_the_readers() -> None:
    assert pairs(None, [1, 2]) == frozenset()
    assert pairs(7, [1, 2]) == {(7, 1), (7, 2)}


def test_set_facts_parts_hold_every_fact_once_and_none_is_larger_than_asked() -> None:
    from infra.page_facts import _parts
    from ports.page_facts import Facts

    facts = Facts(accounts={i: None for i in range(5)}, reposts={7: None},
                  liked={(1, i): True for i in range(4)}, hidden={(2, 3): 1})
    parts = list(_parts(facts, 3))
    assert [sum(len(getattr(p, k)) for k in ("accounts", "reposts", "liked", "reposted",
                                              "hidden")) for p in parts] == [3, 3, 3, 2]
    merged = Facts()
    for part in parts:
        for kind in ("accounts", "reposts", "liked", "reposted", "hidden"):
            getattr(merged, kind).update(getattr(part, kind))
    assert merged == facts
