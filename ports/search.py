"""The search index: posts and accounts, as the search projector writes them and the
search queries read them.

Documents carry an **external version**: the position of the last event that
made them, so the index itself refuses a stale or repeated write (a document
is replaced only by a strictly higher version). That is what makes the
projector's writes idempotent and ordered per document, whatever order events
arrive in and however often: a bulk written again after a crash changes nothing.

A deleted post is not removed: it becomes a **tombstone** (``PostTombstone``:
its text and author fields gone, ``deleted`` true, at the delete's version),
so a creation that arrives later (a replayed parked event, an out-of-order
apply) meets a newer version and is refused instead of bringing the post back.
Queries never match tombstones.

A suspended account stays indexed, **flagged**: its document is ``suspended`` and
each of its posts ``author_suspended`` (set by ``SuspendAuthor``, guarded like a
rename), and queries never match flagged documents; lifting the suspension clears
the flags, so everything comes back without being read again from elsewhere.

Reads page with ``search_after``: each hit carries its sort key, and a page
starts strictly after the key it is given. Post scores are deterministic per
document (constant-score features times a recency decay from a fixed
``origin_ms``), so a key keeps its place while documents are added: paging is
exact, with no repeat and no gap, across any number of pages.

The adapter is ``infra.search_index.ElasticsearchIndex``; the fake is
``tests.fakes.search.MemorySearchIndex``; ``tests/contracts/search.py`` runs
one contract against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AccountDoc:
    """An account as search sees it. ``profile_position`` is the position of the last
    event that changed what its posts copy of it (``display_name``, ``suspended``):
    registration, a profile change, a suspension or its lifting."""

    account_id: int
    aggregate_id: str
    username: str
    display_name: str
    followers_count: int
    profile_position: int
    created_at: str
    """RFC 3339 UTC (``2026-11-24T10:00:00.123Z``)."""
    suspended: bool = False
    """Suspended by a moderator: never found, and neither are its posts."""


@dataclass(frozen=True, slots=True)
class PostDoc:
    """A live post. ``author_display_name`` and ``author_suspended`` are the author's as
    of ``author_position`` (the ``profile_position`` they were copied from); a rename
    (``RenameAuthor``) or a suspension (``SuspendAuthor``) rewrites them on every post
    whose ``author_position`` is older."""

    post_id: int
    author_id: int
    author_username: str
    author_display_name: str
    author_position: int
    text: str
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    created_at: str
    """RFC 3339 UTC."""
    author_suspended: bool = False


@dataclass(frozen=True, slots=True)
class Versioned:
    """A stored account with its external version (the position of the last event
    that changed it)."""

    version: int
    doc: AccountDoc


@dataclass(frozen=True, slots=True)
class PutAccount:
    version: int
    doc: AccountDoc


@dataclass(frozen=True, slots=True)
class PutPost:
    version: int
    doc: PostDoc


@dataclass(frozen=True, slots=True)
class PostTombstone:
    """The post is deleted: it leaves every result, and no older write may revive it."""

    version: int
    post_id: int
    author_id: int


@dataclass(frozen=True, slots=True)
class RenameAuthor:
    """Set ``display_name`` on every post of ``author_id`` whose ``author_position`` is
    below ``position`` (so applying it again, or after a newer rename, changes nothing)."""

    author_id: int
    display_name: str
    position: int


@dataclass(frozen=True, slots=True)
class SuspendAuthor:
    """Set ``author_suspended`` on every post of ``author_id`` whose ``author_position``
    is below ``position``, and move that to ``position`` (the rename's guard: applying
    it again, or after a newer rename or suspension, changes nothing)."""

    author_id: int
    suspended: bool
    position: int


AuthorUpdate = RenameAuthor | SuspendAuthor
"""A change of what an author's posts copy of it, applied in position order."""


@dataclass(frozen=True, slots=True)
class EraseAuthor:
    """The account was erased: its account document goes, and every post of it becomes
    a tombstone at ``position`` (so no older write revives one)."""

    account_id: int
    position: int


DocumentChange = PutAccount | PutPost | PostTombstone
Change = DocumentChange | AuthorUpdate | EraseAuthor


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """``written`` documents replaced; ``stale`` refused because the index already held
    that version or a newer one (a redelivery, a replay, an out-of-order event);
    ``renamed`` posts whose author fields a rename or a suspension changed."""

    written: int = 0
    stale: int = 0
    renamed: int = 0


class SearchWriteError(Exception):
    """The index refused a document for a reason of its own (a document that does not
    fit the mapping): the event's fault, retried and then parked by the runner."""


class SearchQueryRefused(Exception):
    """The index refused a search as malformed (a bug of ours or an unforeseen input);
    the caller may try a simpler search."""


class SearchIndexWriter(Protocol):
    """What the search projector needs (``projections.search``)."""

    async def position(self) -> int:
        """The position of the last event the index holds (0 when new or reset).

        Raises:
            ports.errors.DependencyUnavailable: the index cannot be reached.
        """
        ...

    async def accounts(self, account_ids: Sequence[int] = (), aggregate_ids: Sequence[str] = ()
                       ) -> dict[int, Versioned]:
        """The stored accounts among ``account_ids`` and among the accounts whose
        aggregate id is in ``aggregate_ids``, by account id; unknown ones are absent."""
        ...

    async def write(self, changes: Sequence[Change], upto: int | None) -> WriteOutcome:
        """Apply ``changes``: the posts (one bulk, each guarded by its version), then
        the author updates (``RenameAuthor``, ``SuspendAuthor``) in the order given, then
        the accounts (one bulk, guarded likewise), then the erasures (``EraseAuthor``)
        in order; once all
        of it is searchable, record ``upto`` as the position (never moving it back).
        ``upto=None`` records nothing (a replay). Writing again what was written
        changes nothing.

        Raises:
            SearchWriteError: a document was refused for its content; nothing after it
                (renames, the position) was written.
            ports.errors.DependencyUnavailable: the index cannot be reached or is
                overloaded; the caller retries later.
        """
        ...

    async def reset(self) -> None:
        """Drop every document and the position, leaving empty indices (a rebuild)."""
        ...

    def pinned(self) -> AbstractAsyncContextManager[None]:
        """Keep one target for the calls made inside it (one apply, under the
        projector's lease): an index that follows an alias to its live generation
        reads the alias once on entering instead of before each call. Outside it, each
        call finds its target itself."""
        ...


@dataclass(frozen=True, slots=True)
class PostSearch:
    """A post search. All given conditions must hold:

    * ``words``: each word (or its stem) in the text, or all of them in the author's
      display name; ``phrases``: each phrase exactly, word for word, in the text;
    * ``tags`` (lower-cased, without ``#``): all of them; ``authors`` (usernames, any
      case): by one of them; ``on_or_after`` / ``before``: UTC dates, the creation
      day at or after the first and before the second;
    * never by ``hidden_authors``; never deleted; never by a suspended author.

    ``order``: ``relevance`` (score desc, then post id desc; the score decays by half
    every ``half_life_days`` before ``origin_ms``) or ``newest`` (post id desc). The
    page holds at most ``size`` hits after ``after`` (a hit's ``sort_key``).
    """

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    on_or_after: date | None = None
    before: date | None = None
    hidden_authors: frozenset[int] = frozenset()
    order: str = "relevance"
    origin_ms: int = 0
    half_life_days: float = 7.0
    after: tuple[float | int, ...] | None = None
    size: int = 20


@dataclass(frozen=True, slots=True)
class AccountSearch:
    """Accounts whose username starts with ``text`` (a leading ``@`` ignored), or whose
    display name has a word starting with each word of ``text``; the account named
    exactly ``text`` first, then by followers (desc), then account id (asc); never a
    suspended account."""

    text: str
    hidden_accounts: frozenset[int] = frozenset()
    after: tuple[float | int, ...] | None = None
    size: int = 20


@dataclass(frozen=True, slots=True)
class Hit:
    """A found document's id and the key the next page starts after."""

    id: int
    sort_key: tuple[float | int, ...] = field(default=())


class SearchIndexReader(Protocol):
    """What the search queries need (``queries.search``)."""

    async def search_posts(self, search: PostSearch) -> list[Hit]:
        """A page of post ids in order; [] when the index does not exist yet.

        Raises:
            SearchQueryRefused: the index refused the search as malformed.
            ports.errors.DependencyUnavailable: the index cannot be reached.
        """
        ...

    async def search_accounts(self, search: AccountSearch) -> list[Hit]:
        """A page of account ids in order; [] when the index does not exist yet."""
        ...

    async def position(self) -> int:
        """As ``SearchIndexWriter.position``: what read-your-writes waits on."""
        ...
