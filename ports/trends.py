"""Trend counters: how much each hashtag is used, per time bucket, by how many accounts.

The trends projector (``projections.trends``) turns each post's hashtags into
``TagUse``s; the counters keep, per tag and bucket (10 minutes and 1 hour, by
the post's own time, so a replay lands where the post belongs):

* the **weighted volume** (each distinct text once per tag and day; a post of a
  new account weighs less) and the number of distinct texts;
* the **distinct authors** (a HyperLogLog: an estimate within about 1 %),
  counting the author of a text only when the text is new, so that many
  accounts posting one text count as one.

``record`` is atomic with the position (all of a batch, or nothing), so each
event is counted exactly once. The counters also keep which accounts are
suspended (``Suspension``, changed with the batch that holds the event): a post
by a suspended account counts for nothing (uses already counted stay counted).
The adapter is ``infra.trend_counters`` (Redis); the fake ``tests.fakes.trends``;
the contract ``tests/contracts/trends.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

BUCKET_S: Final = 600
"""The fine bucket: 10 minutes (windows of 1 h and 4 h)."""
HOUR_S: Final = 3600
"""The coarse bucket (the 24 h window, and every baseline)."""
DAY_S: Final = 86_400
WEEK_S: Final = 7 * DAY_S


@dataclass(frozen=True, slots=True)
class TagUse:
    """One hashtag of one post. ``at_s``: the post's time (Unix seconds);
    ``text_key``: a digest of the post's normalised text (the same text counts
    once per tag and day); ``weight``: 0.1-1, less for newer accounts."""

    tag: str
    at_s: int
    text_key: str
    author_id: int
    weight: float


@dataclass(frozen=True, slots=True)
class Suspension:
    """An account suspended (``suspended``) or no longer, by the event at ``position``;
    a change older than the one stored for the account changes nothing."""

    account_id: int
    position: int
    suspended: bool


@dataclass(frozen=True, slots=True)
class TagWindow:
    """A tag's counts over the window ending now, and its own baselines.

    ``volume`` is split in the window's ``first_half`` and ``second_half``;
    ``baseline_day`` and ``baseline_week`` are the weighted volume per hour over
    the 24 hours and the 7 days before the window.
    """

    tag: str
    volume: float
    first_half: float
    second_half: float
    posts: int
    authors: int
    baseline_day: float
    baseline_week: float


class TrendCounterWriter(Protocol):
    async def position(self) -> int:
        """The position of the last event counted (0 when new or reset)."""
        ...

    async def suspended(self, account_ids: Sequence[int]) -> set[int]:
        """Those of ``account_ids`` suspended as of the position (by the suspensions
        recorded so far).

        Raises:
            ports.errors.DependencyUnavailable: the store cannot be reached.
        """
        ...

    async def record(self, uses: Sequence[TagUse], first: int, upto: int | None,
                     suspensions: Sequence[Suspension] = ()) -> bool:
        """Count ``uses`` (the tags of the events ``first``..``upto``), apply
        ``suspensions`` (each only if newer than the account's stored one) and record
        ``upto`` as the position, all at once, unless the position is already at or
        past ``first`` (then nothing changes: the batch, or part of it, was counted).
        ``upto=None`` counts without any position check or change (a replay).
        True when counted.

        Raises:
            ports.errors.DependencyUnavailable: the store cannot be reached.
        """
        ...

    async def reset(self) -> None:
        """Forget every counter and the position (a rebuild)."""
        ...


class TrendCounterReader(Protocol):
    def pinned(self) -> TrendCounterReader:
        """A view for one read of several calls: all read the same copy of the counters,
        the one live at its first call, even if a blue-green rebuild switches copies
        meanwhile (a store with one copy answers itself)."""
        ...

    async def candidates(self, now_s: int, window_s: int, limit: int) -> list[str]:
        """The ``limit`` tags of largest weighted volume in the window ending at ``now_s``."""
        ...

    async def windows(self, tags: Sequence[str], now_s: int, window_s: int
                      ) -> list[TagWindow]:
        """Each tag's counts over the window ending at ``now_s`` (3,600 s and 14,400 s
        windows in 10-minute buckets, longer ones in hours), in the order given, all
        read at once (one round trip, whatever the number of tags).

        Raises:
            ports.errors.DependencyUnavailable: the store cannot be reached.
        """
        ...

    async def position(self) -> int:
        """As ``TrendCounterWriter.position``: what read-your-writes waits on."""
        ...


Answer = TypeVar("Answer")
"""A computed answer: JSON-able, and read back from the cache as the same JSON."""


class TrendAnswerCache(Protocol):
    """A computed trends answer, shared by every reader (every API process) for a
    few seconds: it is the same for all of them. Forgotten by ``reset``."""

    async def cached(self, key: str, ttl_s: float,
                     compute: Callable[[], Awaitable[Answer]]) -> Answer:
        """The answer stored under ``key`` less than ``ttl_s`` seconds ago, else
        ``compute()``'s (a JSON-able list), stored for ``ttl_s`` seconds. Single
        flight: callers that miss together wait for one ``compute()``.

        Raises:
            ports.errors.DependencyUnavailable: the store cannot be reached.
        """
        ...
