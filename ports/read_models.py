"""The read models' store, as the read-model projector writes it: one transaction per batch.

What it holds (and the queries read): accounts with their counts
(``followers_count``, ``following_count``, ``posts_count``), posts with theirs
(``likes_count``, ``replies_count``, ``reposts_count``) and a deleted mark,
on/off edges of five kinds (``EdgeKind``) each with the aggregate version
that last set it, the tag rows of live posts (one per hashtag of each post
not deleted: the tag timelines' index, ``add_post_tags``), and the
projector's position.

Everything is written inside ``ReadModelStore.transaction()``: the writes
of a batch of events and the position they bring the projector to commit
together or not at all, and ``ReadModelWriter.locked_position`` holds the
position against every other writer until then, so each event is applied
exactly once whoever else applies the log. Methods are batch-shaped: each
costs one round trip (one statement) however many rows it touches, so the
projector applies a run of edge events in three kinds of call (``lock_edges``,
``write_edges``, one ``add_to_counts`` per count), not per event.

What to write is the projector's decision (``projections.read_models``);
the store only keeps the few rules that are about rows: an insert of an
account or post that is there changes nothing, a profile update applies only
over an older version, a post count never goes below 0.
``tests/contracts/read_models.py`` checks them against the PostgreSQL adapter
(``infra.read_model_store``) and the in-memory fake alike.

The adapters raise their client's errors for a store that is down; the
projection runner tells those from the event's own failures with the
classifier the composition root gives it (``infra.failures``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, Protocol

from ports.page_facts import FactKeys, Facts
from ports.post_cache import Counts

EdgeKind = Literal["follows", "likes", "reposts", "blocks", "mutes"]
"""The edge tables: (follower, followee), (account, post) for likes and reposts,
(blocker, blocked), (muter, muted)."""

EDGE_KINDS: Final[tuple[EdgeKind, ...]] = ("follows", "likes", "reposts", "blocks", "mutes")

AccountCount = Literal["followers_count", "following_count", "posts_count"]
PostCount = Literal["likes_count", "replies_count", "reposts_count"]
Count = AccountCount | PostCount
"""A count kept on an account row or on a post row."""

ACCOUNT_COUNTS: Final[frozenset[Count]] = frozenset(
    {"followers_count", "following_count", "posts_count"})
POST_COUNTS: Final[frozenset[Count]] = frozenset(
    {"likes_count", "replies_count", "reposts_count"})

EdgeKey = tuple[int, int]
"""The two ends of an edge, in the order ``EdgeKind`` gives them."""


class Edge(NamedTuple):
    """One edge row as written: its ends, whether it is on, the version of the edge's
    aggregate and the log position that set it, when it was set (RFC 3339 text) and,
    for ``reposts`` only, the repost's own id."""

    a: int
    b: int
    active: bool
    version: int
    position: int
    since: str
    repost_id: int | None = None


class EdgeState(NamedTuple):
    """What the store holds of an edge: on or off, and the version that set it."""

    active: bool
    version: int


@dataclass(frozen=True, slots=True)
class NewAccount:
    """An account as registered (``created_at``: RFC 3339 text)."""

    account_id: int
    aggregate_id: str
    username: str
    email: str
    display_name: str
    created_at: str
    version: int


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A profile as updated by the account aggregate's ``version``."""

    aggregate_id: str
    display_name: str
    bio: str
    avatar_url: str
    version: int


@dataclass(frozen=True, slots=True)
class AdminChange:
    """The account's admin role as set by the account aggregate's ``version``."""

    aggregate_id: str
    is_admin: bool
    version: int


@dataclass(frozen=True, slots=True)
class SuspensionChange:
    """The account's suspension as set by the account aggregate's ``version``:
    ``suspended_at`` (RFC 3339 text) while suspended, ``None`` once lifted."""

    aggregate_id: str
    suspended_at: str | None
    version: int


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post as created (``created_at``: RFC 3339 text)."""

    post_id: int
    author_id: int
    text: str
    reply_to_id: int | None
    quote_of_id: int | None
    mentions: list[str]
    hashtags: list[str]
    created_at: str
    version: int
    media_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NewMedia:
    """A medium as uploaded (``created_at``: RFC 3339 text); ``original`` and ``small``
    the stored variants (``{"key", "content_type", "width", "height", "bytes"}``)."""

    media_id: int
    owner_id: int
    description: str
    blurhash: str
    original: dict[str, Any]
    small: dict[str, Any]
    created_at: str
    version: int


class StoredPost(NamedTuple):
    """What a deletion needs of a stored post: deleted already, the post it replies to,
    and its hashtags (whose tag rows go with it)."""

    deleted: bool
    reply_to_id: int | None
    hashtags: tuple[str, ...] = ()


class ReadModelWriter(Protocol):
    """The writes of one transaction (``ReadModelStore.transaction``); each call is one
    round trip."""

    async def locked_position(self) -> int:
        """The projector's position (0 when none is recorded), locked until the
        transaction ends: a second writer waits here for this one to finish."""
        ...

    async def set_position(self, position: int) -> None:
        """Record ``position`` (after ``locked_position`` in the same transaction)."""
        ...

    async def add_account(self, account: NewAccount) -> None:
        """Insert the account with zero counts; nothing if its id is already there."""
        ...

    async def update_profile(self, change: ProfileChange) -> None:
        """Set the account's display name, bio, avatar and version, only if the stored
        version is older than ``change.version`` (else nothing)."""
        ...

    async def set_admin(self, change: AdminChange) -> None:
        """Set the account's ``is_admin`` and version, only if the stored version is
        older than ``change.version`` (else nothing)."""
        ...

    async def set_suspension(self, change: SuspensionChange) -> None:
        """Set the account's ``suspended_at`` and version, only if the stored version is
        older than ``change.version`` (else nothing)."""
        ...

    async def add_post(self, post: NewPost) -> bool:
        """Insert the post with zero counts; ``False`` (and nothing written) if its id is
        already there, as a post or a tombstone."""
        ...

    async def lock_post(self, post_id: int) -> StoredPost | None:
        """The stored post (``None`` if absent), locked until the transaction ends."""
        ...

    async def add_tombstone(self, post_id: int, author_id: int, deleted_at: str,
                            version: int) -> None:
        """Record as deleted a post whose creation was never applied (empty text, created
        and deleted at ``deleted_at``), so that its creation applied later adds nothing;
        nothing if the id is already there."""
        ...

    async def mark_deleted(self, post_id: int, deleted_at: str, version: int) -> None:
        """Mark a stored post deleted at ``deleted_at`` (RFC 3339 text) by ``version``."""
        ...

    async def add_post_tags(self, post_id: int, author_id: int, tags: Sequence[str]) -> None:
        """Add a tag row ``(tag, post_id, author_id)`` for each distinct tag of ``tags``
        (as given: the projector passes the post's stored, normalised hashtags); a row
        that is there already is left as it is. Nothing for no tags."""
        ...

    async def remove_post_tags(self, post_id: int, tags: Sequence[str]) -> None:
        """Delete the post's tag rows of ``tags`` (absent ones: nothing)."""
        ...

    async def live_post_ids(self, author_id: int) -> list[int]:
        """The ids of the author's posts that are not deleted (erasure deletes them)."""
        ...

    async def active_edges(self, kind: EdgeKind, account_id: int) -> list[Edge]:
        """The active edges of ``kind`` with ``account_id`` at an account end (either end
        of ``follows``, ``blocks`` and ``mutes``; the first of ``likes`` and ``reposts``),
        as stored, locked until the transaction ends."""
        ...

    async def erase_account(self, account_id: int) -> None:
        """Remove the account's personal data: its row goes (lists that join accounts
        stop showing it), every post of it, deleted already, keeps no text,
        mentions, hashtags or media ids, and its media's rows go (uploads and the
        media of its posts, with their alt text: no longer served, and the sweeper
        removes their files). Run after its posts were deleted."""
        ...

    async def lock_edges(self, kind: EdgeKind, keys: Sequence[EdgeKey]
                         ) -> dict[EdgeKey, EdgeState]:
        """The stored state of each of ``keys`` that has a row (absent ones are left
        out), the rows locked until the transaction ends. One statement."""
        ...

    async def write_edges(self, kind: EdgeKind, edges: Sequence[Edge]) -> None:
        """Insert or overwrite each edge row (at most one per key), in one statement.
        ``repost_id`` is kept for ``reposts`` only."""
        ...

    async def add_to_counts(self, count: Count, steps: Mapping[int, int]) -> None:
        """Add each step to ``count`` of the account or post whose id is its key, in one
        statement (none if every step is 0). A post count never goes below 0; an id
        with no row is left alone."""
        ...

    async def add_media(self, media: NewMedia) -> None:
        """Add the medium, unattached, unless it is there."""
        ...

    async def describe_media(self, media_id: int, description: str, version: int) -> None:
        """Set the medium's description if ``version`` is newer than the row's."""
        ...

    async def attach_media(self, post_id: int, media_ids: Sequence[int]) -> None:
        """Attach the media to ``post_id`` in that order (each keeps the first post it
        was attached to)."""
        ...

    async def post_counts(self, post_ids: Sequence[int]) -> dict[int, Counts]:
        """The counts (every ``ports.post_cache.COUNT_FIELDS``, ``deleted`` 0 or 1) of
        each stored post of ``post_ids`` and of each post one of them replies to, as
        this transaction sees them."""
        ...

    async def facts(self, keys: FactKeys) -> Facts:
        """The facts of ``keys`` (``ports.page_facts``) as this transaction has written
        them, every one of them (the accounts of ``account_aggregates`` that exist by
        id): what the projector hands the facts cache before it commits."""
        ...


class ReadModelStore(Protocol):
    """The read models, written one transaction at a time."""

    def transaction(self) -> AbstractAsyncContextManager[ReadModelWriter]:
        """A transaction: ``async with store.transaction() as tx:`` commits every write
        made through ``tx`` when the block ends, and none of them if it raises."""
        ...

    async def position(self) -> int:
        """The projector's committed position (0 when none is recorded)."""
        ...

    async def reset(self) -> None:
        """Delete every account, post, edge, tag row and the position, in one
        transaction."""
        ...

    async def analyze(self) -> None:
        """Refresh what the store's planner knows of the tables (after a bulk rebuild)."""
        ...
