"""Reading the read models: the lookups the queries make of accounts, posts and edges.

The read-model projector keeps accounts (with their counts), posts (with
theirs, and whether deleted), and the follow, like, repost, block and mute
edges (each active or not). The queries (``queries/``) keep the reading
logic: paging and cursors, the visibility rules, the home timeline's merge,
and shaping rows into the API's objects (``queries.shapes``). This port is
what they ask the tables, one lookup per method, each answered in **one
round trip** (``page_rows``: three statements pipelined together), as rows:

* ``AccountRow``: an account as the read model has it (ids as ``int``,
  ``created_at`` an aware ``datetime``); ``FollowRow`` and ``RepostRow`` add
  the follow's position and the repost's id and time to the account that
  follows or reposts;
* ``PostRow``: a post's immutable body, its counts and ``deleted`` (0 or 1);
* ``MediaRow``: a medium, its variants and the post it is attached to;
* ``Edge``, ``HiddenAccounts``, ``PageRows``, ``ThreadIds``: the smaller facts.

Only *active* edges count anywhere. No method raises for something absent (an
unknown username is ``None``, an unknown post id is left out); an adapter
raises its driver's errors when the store cannot answer (psycopg's
``Error``, ``psycopg_pool.PoolTimeout``), which the HTTP layer answers with
503 (``infra.http.errors``). ``infra/read_model_reader.py``
(``PostgresReadModelReader``) is the adapter, ``tests/fakes/read_model_reader.py``
the in-memory fake, ``tests/contracts/read_model_reader.py`` their contract.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol

from ports.page_facts import FactKeys, Facts
from ports.records import MediaBody, PostBody, Profile
from ports.timelines import TimelineItem

FollowDirection = Literal["followers", "following"]
"""``followers``: who follows the account; ``following``: whom it follows."""

EdgeKind = Literal["follow", "block", "mute"]


class AccountRow(Profile):
    """An account of the read model: its ``Profile`` (``ports.records``), its counts,
    ``email``, always ``""``: published events carry no email (the owner's is read
    from the event store), and ``suspended`` (by a moderator: the lookups that list
    accounts or posts for others leave suspended accounts out, so only the lookups of
    one account can answer ``True``)."""

    followers_count: int
    following_count: int
    posts_count: int
    email: str
    suspended: bool


class FollowRow(AccountRow):
    """An account in a follower or following list, and the position of that follow
    (the event store's notification id of the event that made it: the list's
    keyset)."""

    position: int


class RepostRow(AccountRow):
    """An active repost: the reposting account (``id`` is the reposter's), the
    repost's own id and when it was made."""

    repost_id: int
    since: datetime


class PostRow(PostBody[datetime]):
    """A post of the read model: its immutable body (``ports.records.PostBody``, whose
    ``media_ids`` the read model always has: ``[]`` for none), its counts, and
    ``deleted``."""

    likes_count: int
    replies_count: int
    reposts_count: int
    deleted: int
    """1 when the post is deleted (its row stays, with its body and counts), else 0."""


class MediaRow(MediaBody):
    """A medium of the read model (``rm_media``): its ``ports.records.MediaBody``, the
    post it is attached to (``post_id``; ``None``: unattached), whether that post is
    deleted (``post_deleted``), and when it was uploaded."""

    post_id: int | None
    post_deleted: bool
    created_at: datetime
    owner_suspended: bool
    """Its owner is suspended (it is not served meanwhile, and not swept either)."""


class Edge(NamedTuple):
    """An active edge: ``kind`` from ``from_id`` to ``to_id`` (account ids)."""

    kind: EdgeKind
    from_id: int
    to_id: int


@dataclass(frozen=True, slots=True)
class HiddenAccounts:
    """Whom a reader must not see: ``blocked``, the accounts in an active block with
    the reader (either way), and ``muted``, those the reader mutes."""

    blocked: frozenset[int] = frozenset()
    muted: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class PageRows:
    """What a page of posts needs besides bodies and counts (``page_rows``).

    ``authors``: the accounts asked for that exist and are not suspended;
    ``reposts``: the active reposts asked for, with their reposters (not
    suspended); ``live_parents``: the parents asked for that exist, are not
    deleted and whose authors are not suspended; ``liked`` and ``reposted``: the
    posts asked for that the reader likes or reposts (actively); ``hidden``:
    whom the reader must not see. No reader: no likes, reposts or hidden.
    """

    authors: list[AccountRow]
    reposts: list[RepostRow]
    live_parents: set[int]
    liked: set[int]
    reposted: set[int]
    hidden: HiddenAccounts


@dataclass(frozen=True, slots=True)
class ThreadIds:
    """The post ids around a post (deleted ones included), see ``thread_ids``."""

    ancestors: list[int]
    descendants: list[int]


class ReadModelReader(Protocol):
    """The read models, as the queries read them. Every method is one round trip."""

    async def account_id(self, username: str) -> int | None:
        """The id of the account named ``username`` (case-insensitively), or ``None``."""
        ...

    async def account_by_username(self, username: str) -> AccountRow | None:
        """The account named ``username`` (case-insensitively), or ``None``."""
        ...

    async def account_by_id(self, account_id: int) -> AccountRow | None:
        """The account with that id, or ``None``."""
        ...

    async def accounts_by_id(self, account_ids: Collection[int]) -> list[AccountRow]:
        """The accounts among ``account_ids`` that the read model has and that are not
        suspended, in no particular order (the accounts listed in notification groups
        and found by search)."""
        ...

    async def follow_page(self, account_id: int, direction: FollowDirection, before: int,
                          excluding: Collection[int], limit: int) -> list[FollowRow]:
        """Up to ``limit`` accounts of ``account_id``'s followers or followings by active
        follows with a position below ``before``, newest follow first, leaving out
        the accounts in ``excluding``, suspended accounts (and follows of accounts the
        read model lacks)."""
        ...

    async def edges_between(self, reader_id: int, other_id: int) -> list[Edge]:
        """The active follows and blocks between the two accounts, either way, and the
        reader's active mute of ``other_id`` (not the other's of the reader)."""
        ...

    async def hidden_accounts(self, reader_id: int) -> HiddenAccounts:
        """Whom ``reader_id`` must not see (blocks either way, the reader's mutes)."""
        ...

    async def media(self, media_ids: Sequence[int]) -> list[MediaRow]:
        """The media among ``media_ids`` the read models have, in no particular order."""
        ...

    async def live_media_keys(self, keys: Sequence[str], unattached_since: datetime
                              ) -> set[str]:
        """Those of the store ``keys`` (a page of the media store, about 1,000) that
        some medium still to be served or attached names: attached to a post not
        deleted, or unattached and uploaded at or after ``unattached_since``."""
        ...

    async def posts(self, post_ids: Sequence[int]) -> list[PostRow]:
        """The rows of the posts among ``post_ids`` that the read model has, deleted
        ones included (``deleted`` 1), in no particular order."""
        ...

    async def page_rows(self, reader_id: int | None, author_ids: Collection[int],
                        repost_ids: Sequence[int], post_ids: Sequence[int],
                        parent_ids: Sequence[int]) -> PageRows:
        """Everything else a page of posts needs (``PageRows``), in one round trip:
        ``author_ids``' accounts, ``repost_ids``' reposts, which of ``parent_ids`` are
        live, which of ``post_ids`` the reader likes and reposts, whom it must not see."""
        ...

    async def facts(self, keys: FactKeys) -> Facts:
        """The facts of ``keys`` (``ports.page_facts``), every one of them, in one round
        trip: what hydration reads on a miss of the facts cache."""
        ...

    async def account_post_ids(self, author_id: int, before: int, limit: int) -> list[int]:
        """The ids of up to ``limit`` of the author's posts below ``before``, not deleted,
        newest first."""
        ...

    async def tagged_post_ids(self, tag: str, before: int, excluding_authors: Collection[int],
                              limit: int) -> list[int]:
        """The ids of up to ``limit`` posts below ``before`` that carry ``tag`` (its stored
        form: NFC, lower case, no ``#``), not deleted, newest first, leaving out the
        posts of ``excluding_authors`` and of suspended authors (the tag timelines; one
        index range scan)."""
        ...

    async def thread_ids(self, post_id: int, max_posts: int) -> ThreadIds:
        """Around ``post_id``, deleted posts included: ``ancestors``, its chain of
        parents (at most ``max_posts``) root first; ``descendants``, its replies and
        theirs, at most ``max_posts``, depth-first (each reply's own replies right
        after it), oldest first among siblings, at most ``max_posts`` deep."""
        ...

    async def rebuild_items(self, reader_id: int, excluded_authors: Collection[int],
                            limit: int) -> list[TimelineItem]:
        """What a rebuilt home timeline holds, in no particular order: the newest
        ``limit`` posts (not deleted) and the newest ``limit`` active reposts (of posts
        not deleted, as ``(repost id, post id)``) by the reader and by the accounts it
        actively follows, but for ``excluded_authors`` (the celebrities, whose items
        are pulled at read time; the reader's own are always in)."""
        ...
