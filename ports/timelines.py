"""The home-timeline store: what fan-out writes and the home query reads.

Items are ``TimelineItem`` pairs: ``(item id, original post id)`` for a
repost, ``(post id, None)`` for a post shown as itself. Item ids are
Snowflakes (a post's or a repost's own id, unique across both), so a larger
id is a newer item and orders a timeline.

The store keeps, per account: its home timeline (items, at most one per
original post, trimmed to ``max_entries``, oldest first; *kept* only while
its reader is active), its own recent posts and reposts (``authored``), whom
it follows and who follows it; and for all: the celebrities (whose items are
pulled at read time, not pushed) with the item each was promoted at, who
reposted each post, and the timeline projector's position.

The rules every implementation keeps (``tests/contracts/timelines.py``
checks them against the Redis adapter and the in-memory fake alike):

* **oldest item wins**: a timeline shows each original post by one item, its
  oldest: the post itself if pushed, else its earliest repost pushed. A newer
  item for a post already shown is skipped, an older one replaces it, so the
  outcome does not depend on the order of pushes;
* **only kept**: a push (unless ``only_kept=False``) writes nothing to a
  timeline that does not exist; a timeline stops existing when it expires,
  or when removals or trimming empty it;
* **trimming**: a timeline and an ``authored`` set keep their newest
  ``max_entries`` entries (the kept-marker of ``mark_kept`` counts as the
  oldest entry of a timeline);
* **advance only forward**: ``advance`` never lowers the position.

Methods are batch-shaped: each takes many readers, posts or accounts and
costs one round trip (or one pipeline per ~1,000 timeline writes), so
callers never loop over readers to call the store.

The adapters raise their client's errors for a store that is down; the
projection runner treats connection errors as a dependency outage
(``infra.failures``, handed to it by the composition root).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

TimelineItem = tuple[int, int | None]
"""(item id, original post id for a repost or ``None`` for a post itself)."""

Place = Literal["timeline", "authored"]
"""Where ``contains`` looks: a reader's home timeline, or an account's authored items."""


@dataclass(frozen=True, slots=True)
class Reposts:
    """Who reposted one post: its author (when recorded) and reposter -> repost id."""

    author_id: int | None
    by_reposter: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class Reach:
    """The ways one reader may reach one post, as ``reach`` finds them.

    ``in_timeline``: the post itself is in the reader's timeline.
    ``indexed_repost``: the repost the reader's timeline shows the post by (its
    index may name one trimmed away since: check it with ``contains``).
    ``author_id``: the post's author, if recorded.
    ``celebrity_reposts``: for each celebrity asked about, in order, its repost
    of the post (repost id) or ``None``.
    """

    in_timeline: bool
    indexed_repost: int | None
    author_id: int | None
    celebrity_reposts: Sequence[int | None]


@dataclass(frozen=True, slots=True)
class HomeStart:
    """What ``open_home`` finds: a home read's first round trip.

    ``kept``: the reader's timeline existed (and is kept ``ttl_s`` more seconds).
    ``celebrities``: every celebrity.
    ``followed``: the celebrities the reader follows, in ``celebrities``' order
    (empty when not ``kept``).
    ``slices``: ``slices(reader, followed, below, count)``'s answer (empty when not
    ``kept``: a timeline to rebuild is read after its rebuild).
    """

    kept: bool
    celebrities: Sequence[int]
    followed: Sequence[int]
    slices: Sequence[Sequence[TimelineItem]]


def edge_field(kind: str, other_id: int) -> str:
    """An edge of an account as ``note_edge`` names it: ``f<followee>`` (its follow),
    ``r<post>`` (its repost)."""
    return f"{kind}{other_id}"


class TimelineWriter(Protocol):
    """Pushing items into and taking them out of readers' timelines."""

    @property
    def max_entries(self) -> int:
        """The length timelines and ``authored`` sets are trimmed to."""
        ...

    async def push(self, readers: Iterable[int], items: Sequence[TimelineItem], *,
                   only_kept: bool = True) -> None:
        """Add ``items`` to every reader's timeline, oldest item per post winning,
        then trim. With ``only_kept`` (the default) readers whose timeline does not
        exist are skipped; otherwise it is created."""
        ...

    async def push_each(self, items_by_reader: Mapping[int, Sequence[TimelineItem]], *,
                        only_kept: bool = True) -> None:
        """Like ``push``, each reader with its own items (one call for all readers)."""
        ...

    async def remove(self, readers: Iterable[int], items: Sequence[TimelineItem]) -> None:
        """Take ``items`` out of every reader's timeline (a timeline left empty
        stops existing)."""
        ...

    async def position(self) -> int:
        """The timeline projector's position (0 before its first event)."""
        ...

    async def following_among(self, reader_id: int, accounts: Sequence[int]) -> list[bool]:
        """For each of ``accounts``, in order: does ``reader_id`` follow it?"""
        ...

    async def contains(self, checks: Sequence[tuple[Place, int, TimelineItem]]) -> list[bool]:
        """For each ``(place, account, item)``, in order: is ``item`` in that
        account's home timeline (``"timeline"``) or authored items (``"authored"``)?"""
        ...


class TimelineFanout(TimelineWriter, Protocol):
    """What the timeline projector (``projections.timelines``) reads and writes."""

    async def advance(self, position: int) -> None:
        """Set the projector's position to ``position`` if that is higher (atomic)."""
        ...

    async def reset(self) -> None:
        """Forget everything: timelines, authored items, the follow graph,
        celebrities, reposts and the position."""
        ...

    # -- the follow graph -------------------------------------------------------------

    async def followers(self, account_id: int) -> list[int]:
        """The accounts following ``account_id``, in no particular order."""
        ...

    async def add_follows(self, follows: Sequence[tuple[int, int]]) -> list[int]:
        """Record ``(follower, followee)`` pairs, in order; for each, the followee's
        number of followers just after it (a follow already recorded adds nothing)."""
        ...

    async def remove_follow(self, follower_id: int, followee_id: int) -> int:
        """Forget one follow; the followee's number of followers left."""
        ...

    # -- celebrities -------------------------------------------------------------------

    async def is_celebrity(self, account_id: int) -> bool:
        ...

    async def celebrities_among(self, accounts: Sequence[int]) -> list[bool]:
        """For each of ``accounts``, in order: is it a celebrity?"""
        ...

    async def mark_celebrity(self, account_id: int, since: TimelineItem | None) -> None:
        """Make the account a celebrity, promoted when ``since`` was its newest
        authored item (``None``: it had none). Atomic."""
        ...

    async def celebrity_since(self, account_id: int) -> TimelineItem | None:
        """The item recorded by ``mark_celebrity`` (``None``: none, or no celebrity)."""
        ...

    async def unmark_celebrity(self, account_id: int) -> None:
        """Make the account an ordinary one again, forgetting ``since``. Atomic."""
        ...

    # -- authored items ----------------------------------------------------------------

    async def add_authored(self, author_id: int, item: TimelineItem) -> None:
        """Add to the author's own items, trimmed to ``max_entries``, oldest first."""
        ...

    async def remove_authored(self, author_id: int, item: TimelineItem) -> None:
        ...

    async def recent_authored(self, account_id: int, count: int,
                              after: TimelineItem | None = None) -> list[TimelineItem]:
        """Up to ``count`` of the account's items newer than ``after`` (exclusive;
        ``None``: all), newest first."""
        ...

    async def recent_authored_many(self, accounts: Sequence[int], count: int
                                   ) -> dict[int, list[TimelineItem]]:
        """``recent_authored(account, count)`` for each account, in one round trip."""
        ...

    # -- reposts -----------------------------------------------------------------------

    async def record_repost(self, post_id: int, author_id: int, reposter_id: int,
                            repost_id: int) -> None:
        """Remember that ``reposter_id`` reposted ``post_id`` (by ``author_id``) as
        item ``repost_id``."""
        ...

    async def forget_repost(self, post_id: int, reposter_id: int) -> None:
        ...

    async def forget_reposts(self, post_id: int) -> None:
        """Forget every repost of ``post_id`` and its author (the post is deleted)."""
        ...

    async def reposts_of(self, post_ids: Sequence[int]) -> list[Reposts]:
        """Who reposted each post, in order, in one round trip."""
        ...

    # -- tombstones --------------------------------------------------------------------

    async def note_edge(self, account_id: int, edge: str, position: int) -> None:
        """Record that an undo or redo of the account's ``edge`` (``edge_field``) was
        applied at ``position``."""
        ...

    async def edge_noted(self, account_id: int, edge: str) -> int:
        """The position ``note_edge`` recorded for the edge, else 0. One round trip."""
        ...

    async def bury(self, author_id: int, post_id: int | None) -> None:
        """Record that the author's post ``post_id`` was deleted (``None``: the account
        was erased, so every post of it is). Kept until a reset: a parked
        ``PostCreated`` or ``Reposted`` replayed later must not bring the post back."""
        ...

    async def buried(self, author_id: int, post_id: int) -> bool:
        """Whether ``bury`` recorded the post, or the erasure of its author. One round
        trip."""
        ...


class HomeTimelines(TimelineWriter, Protocol):
    """What the home-timeline query (``queries.timelines``) reads, and its rebuild writes."""

    def pinned(self) -> HomeTimelines:
        """A view for one read of several calls: every call of it reads and writes the
        same copy of the store, the one live at its first call, even if a blue-green
        rebuild switches copies meanwhile (a store with one copy answers itself)."""
        ...

    async def keep_alive(self, reader_id: int, ttl_s: int) -> tuple[bool, list[int]]:
        """Keep the reader's timeline ``ttl_s`` more seconds, if it exists. Answers
        whether it existed and, in the same round trip, every celebrity."""
        ...

    async def open_home(self, reader_id: int, ttl_s: int, below: int | None, count: int
                        ) -> HomeStart:
        """A home read's first reads in one round trip: ``keep_alive``, then, if the
        timeline was kept, the celebrities the reader follows (``following_among``)
        and ``slices(reader_id, <those>, below, count)``."""
        ...

    async def celebrities(self) -> list[int]:
        """Every celebrity, in no particular order."""
        ...

    async def mark_kept(self, reader_id: int, ttl_s: int) -> None:
        """Make the reader's timeline exist (empty if new: a kept-marker, never read
        back as an item), kept ``ttl_s`` seconds, so pushes land in it from now on."""
        ...

    async def keep_for(self, reader_id: int, ttl_s: int) -> None:
        """Keep the reader's timeline only ``ttl_s`` more seconds (then it stops existing)."""
        ...

    async def is_kept(self, reader_id: int) -> bool:
        """Does the reader's timeline exist (pushes land in it)?"""
        ...

    async def slices(self, reader_id: int, celebrities: Sequence[int], below: int | None,
                     count: int) -> list[list[TimelineItem]]:
        """Up to ``count`` items with ids below ``below`` (exclusive; ``None``: the
        newest), newest first, of the reader's timeline and then of each celebrity's
        authored items, in order: ``1 + len(celebrities)`` lists, one round trip."""
        ...

    async def reach(self, reader_id: int, post_ids: Sequence[int],
                    celebrities: Sequence[int]) -> list[Reach]:
        """For each post, in order, how the reader may reach it (``Reach``), one round
        trip for all: three lookups per post, whatever the number of celebrities."""
        ...


class TimelineStore(TimelineFanout, HomeTimelines, Protocol):
    """Both sides: what one adapter (and the fake) implements."""


async def open_home_apart(store: HomeTimelines, reader_id: int, kept: bool,
                          celebrities: list[int], below: int | None, count: int
                          ) -> HomeStart:
    """``open_home``'s answer from the store's separate calls, after ``keep_alive``'s
    (``kept``, ``celebrities``): the followed celebrities, then the slices (the
    in-memory store, and the Redis store on a Redis Cluster)."""
    if not kept:
        return HomeStart(False, celebrities, [], [])
    followed = [c for c, f in zip(celebrities, await store.following_among(
        reader_id, celebrities), strict=True) if f]
    return HomeStart(True, celebrities, followed,
                     await store.slices(reader_id, followed, below, count))


RebuildObserver = Callable[[bool, float], None]
"""Told of each home-timeline rebuild: whether the read models had caught up
(``complete``) and how long it took, in seconds (the adapter counts it in metrics)."""
