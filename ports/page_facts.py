"""The facts a page of posts needs besides bodies and counts, kept in a cache.

Hydration (``queries.hydration``) needs, per page: the authors' and reposters'
accounts (as shown: not suspended, not erased), each repost item's reposter and
time, and, for a signed-in reader, whether it likes and reposts each post and
whether a block (either way) or its mute hides each account on the page. These
are ``Facts`` keyed by ``FactKeys``; every value is absolute (the state of the
read models, not a change), and each key is independent of every other, so a
cache can hold any subset of them and a missing key only ever means "ask the
read models", never "no" or "false".

The read-model projector hands the facts its transaction changed to the cache
(``FactsSink.set_facts``) after its writes and before its commit, as it hands
post counts to the post cache (``ports.post_cache``); a reader that missed
reads them from the read models (``ports.read_model_reader.ReadModelReader.facts``)
and fills the cache only where it holds nothing (``FactsCache.fill``), so it
never puts back a value older than the projector's. ``infra/page_facts.py``
(Redis) is the adapter, ``tests/fakes/page_facts.py`` the fake,
``tests/contracts/page_facts.py`` their contract.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol, TypedDict

from ports.post_cache import Counts, PostBody

Pair = tuple[int, int]
"""``(reader id, other id)``: a post id for ``liked`` and ``reposted``, an account id
for ``hidden``."""

BLOCKED: Final = 1
"""Bit of a ``hidden`` value: an active block between the two accounts, either way."""
MUTED: Final = 2
"""Bit of a ``hidden`` value: the reader actively mutes the other account."""


class ShownAccount(TypedDict):
    """An account as others are shown it (``ports.read_model_reader.AccountRow`` without
    ``email`` and ``suspended``), ``created_at`` as RFC 3339 text."""

    id: int
    username: str
    display_name: str
    bio: str
    avatar_url: str
    created_at: str
    followers_count: int
    following_count: int
    posts_count: int


class RepostFact(NamedTuple):
    """An active repost: who made it (shown or not, that is the account's fact) and
    when (RFC 3339 text)."""

    reposter_id: int
    since: str


@dataclass(frozen=True, slots=True)
class FactKeys:
    """Which facts to read: ``accounts`` (and, for the projector only, accounts named
    by their aggregate id, ``account_aggregates``), ``reposts`` by repost id, and
    the reader pairs of ``liked``, ``reposted`` and ``hidden``."""

    accounts: frozenset[int] = frozenset()
    reposts: frozenset[int] = frozenset()
    liked: frozenset[Pair] = frozenset()
    reposted: frozenset[Pair] = frozenset()
    hidden: frozenset[Pair] = frozenset()
    account_aggregates: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.accounts or self.reposts or self.liked or self.reposted
                    or self.hidden or self.account_aggregates)


@dataclass(slots=True)
class Facts:
    """Absolute facts. ``accounts``: id -> the account, or ``None`` when it is not shown
    (no such account, erased, or suspended); ``reposts``: repost id -> the repost, or
    ``None`` when no active repost has that id; ``liked`` / ``reposted``: pair -> the
    reader actively likes / reposts the post; ``hidden``: pair -> ``BLOCKED`` |
    ``MUTED`` bits (0: neither)."""

    accounts: dict[int, ShownAccount | None] = field(default_factory=dict)
    reposts: dict[int, RepostFact | None] = field(default_factory=dict)
    liked: dict[Pair, bool] = field(default_factory=dict)
    reposted: dict[Pair, bool] = field(default_factory=dict)
    hidden: dict[Pair, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.reposts or self.liked or self.reposted
                    or self.hidden)

    def missing(self, keys: FactKeys) -> FactKeys:
        """The keys of ``keys`` these facts lack (``account_aggregates`` are not kept)."""
        return FactKeys(
            accounts=frozenset(i for i in keys.accounts if i not in self.accounts),
            reposts=frozenset(i for i in keys.reposts if i not in self.reposts),
            liked=frozenset(p for p in keys.liked if p not in self.liked),
            reposted=frozenset(p for p in keys.reposted if p not in self.reposted),
            hidden=frozenset(p for p in keys.hidden if p not in self.hidden))

    def update(self, other: Facts) -> None:
        """Take every fact of ``other`` (over this one's)."""
        self.accounts.update(other.accounts)
        self.reposts.update(other.reposts)
        self.liked.update(other.liked)
        self.reposted.update(other.reposted)
        self.hidden.update(other.hidden)


def pairs(reader_id: int | None, others: Iterable[int]) -> frozenset[Pair]:
    """``(reader_id, other)`` for each of ``others``; none without a reader."""
    return frozenset() if reader_id is None else frozenset((reader_id, i) for i in others)


class FactsSink(Protocol):
    """Where the read-model projector sends the facts its transaction changed, before
    it commits."""

    async def set_facts(self, facts: Facts) -> None:
        """Store ``facts`` as the truth, replacing what is there.

        Raises:
            ports.errors.DependencyUnavailable: the store failed (down, out of memory,
                read-only): the projector's transaction rolls back and is retried.
        """
        ...


class FactsCache(FactsSink, Protocol):
    """The facts cache as hydration reads and fills it."""

    async def get(self, keys: FactKeys) -> Facts:
        """The cached facts among ``keys``, in one round trip; a key with nothing cached
        is absent from its dictionary."""
        ...

    async def fill(self, facts: Facts) -> None:
        """Cache what a reader loaded from the read models, each fact only where the
        cache holds none (the projector's may be newer)."""
        ...


class PageReads(Protocol):
    """A page's reads of the post cache and of the facts cache in one round trip, for
    a page whose bodies the process holds (so its authors, parents and pairs are known
    before its counts are read). ``infra/page_reads.py`` is the Redis adapter."""

    def serves(self, posts: object, facts: object) -> bool:
        """Whether it reads exactly these two caches (a context that wraps or replaces
        either, as the live streams' coalescing caches do, reads them apart)."""
        ...

    async def get(self, post_ids: Sequence[int], bodies_needed: Sequence[int],
                  keys: FactKeys) -> tuple[dict[int, PostBody], dict[int, Counts], Facts]:
        """``PostCache.get_many(post_ids, bodies_needed)``'s two dictionaries and
        ``FactsCache.get(keys)``'s facts, in one round trip.

        Raises:
            the stores' errors, as those two calls do.
        """
        ...
