"""The notifications store: per-account notification groups and what the projection
keeps of the social graph to decide them.

The policy -- who is notified of what, how notifications group, what an undo
takes away -- is ``projections.notifications``; this port only stores. Its
adapter (``infra.notification_store``) keeps everything durable in PostgreSQL
and the hot parts (unread counts, preferences, the newest groups) in Redis;
``tests/fakes/notifications.py`` keeps it in memory. One contract test class
(``tests/contracts/notification_store.py``) runs against both (through
``tests/unit/test_store_contracts.py`` and ``tests/integration/test_store_contracts.py``).

A group is identified by the recipient and its ``group_id`` (the position of the
event that made it: unique per recipient, the same on every rebuild). Its
members are keyed by the cause -- ``(recipient, kind, target, account)``, the
target being the liked or reposted post, the followed account or the post that
replies, mentions or quotes -- so an undo finds its member without scanning a group.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, Protocol

MAX_LISTED: Final = 8
"""Accounts listed per group, most recent first (``accounts_count`` counts them all)."""

EdgeKind = Literal["follow", "block", "mute"]


@dataclass(frozen=True, slots=True)
class OpenGroup:
    """The newest group of a (recipient, kind, target): where a new member may go."""

    group_id: int
    first_at: datetime


@dataclass(frozen=True, slots=True)
class Relation:
    """How a recipient stands to an actor, as the projection knows it at its position."""

    blocked: bool
    """A block either way."""
    muted: bool
    """The recipient mutes the actor."""
    following: bool
    """The recipient follows the actor."""


@dataclass(frozen=True, slots=True)
class StoredGroup:
    """One group as a reader sees it, the reader's hidden accounts left out."""

    group_id: int
    kind: str
    post_id: int | None
    account_ids: tuple[int, ...]
    """Most recent first, at most ``MAX_LISTED``."""
    accounts_count: int
    latest_at: str
    """RFC 3339 UTC with milliseconds: when the group's latest cause happened."""
    sort_key: int
    """The position of the latest member's event: the list is newest ``sort_key`` first."""
    read: bool


@dataclass(frozen=True, slots=True)
class Summary:
    """An account's preferences (all six types) and its unread groups per type."""

    preferences: dict[str, str]
    unread: dict[str, int] = field(default_factory=dict)


class NotificationWrites(Protocol):
    """The writes of one batch: one transaction with the projector's position, so a
    batch is applied all or nothing, exactly once. Leaving the context without an
    exception commits (after the hot parts in Redis are brought up to date);
    with one, nothing is written.

    Raises (any method, or the commit):
        ports.errors.DependencyUnavailable, or the driver's connection errors:
            the store cannot be reached; the batch is retried, never parked.
    """

    async def position(self) -> int:
        """The projector's position, locked until the batch ends."""
        ...

    async def set_position(self, position: int) -> None: ...

    async def remember_account(self, account_id: int, username: str) -> None: ...

    async def account_ids(self, usernames: Collection[str]) -> dict[str, int]:
        """Lower-cased username -> account id, for those the projection knows."""
        ...

    async def remember_post(self, post_id: int, author_id: int) -> None:
        """Record a post's author (a post recorded as deleted stays deleted)."""
        ...

    async def post_author(self, post_id: int) -> int | None:
        """The author of a live post; ``None`` for an unknown or deleted post."""
        ...

    async def forget_post(self, post_id: int, author_id: int) -> None:
        """Record the post as deleted (kept as a tombstone)."""
        ...

    async def set_edge(self, kind: EdgeKind, a: int, b: int, active: bool, version: int
                       ) -> None:
        """``a`` follows / blocks / mutes ``b`` (or no longer); an older ``version``
        than the stored one changes nothing."""
        ...

    async def relation(self, recipient: int, actor: int) -> Relation: ...

    async def preferences(self, account_id: int) -> dict[str, str]:
        """All six types' preferences (the defaults until the account sets some)."""
        ...

    async def set_preferences(self, account_id: int, preferences: dict[str, str],
                              version: int) -> None:
        """Store all six; an older ``version`` than the stored one changes nothing."""
        ...

    async def open_group(self, recipient: int, kind: str, target: int) -> OpenGroup | None:
        """The newest group of ``kind`` about ``target`` for ``recipient``, if any."""
        ...

    async def create_group(self, recipient: int, group_id: int, kind: str, target: int,
                           post_id: int | None, account_id: int, at: datetime,
                           position: int) -> bool:
        """A new unread group with one member; ``False`` (and nothing written) if the
        recipient has that group already or the account is already a member of
        ``(kind, target)``."""
        ...

    async def add_member(self, recipient: int, group_id: int, kind: str, target: int,
                         account_id: int, at: datetime, position: int) -> bool:
        """Add the account to the group, which becomes unread and, if ``position`` is its
        newest, moves up; ``False`` (nothing written) if the account is already a
        member of ``(kind, target)``. O(1) in the size of the group."""
        ...

    async def remove_member(self, recipient: int, kind: str, target: int, account_id: int
                            ) -> None:
        """Take the account's member of ``(kind, target)`` away; an emptied group goes."""
        ...

    async def remove_account(self, recipient: int, account_id: int) -> None:
        """Take every member of ``account_id`` out of the recipient's groups."""
        ...

    async def remove_post(self, post_id: int) -> None:
        """Remove every group, of any recipient, whose post is ``post_id``."""
        ...

    async def erase_account(self, account_id: int) -> None:
        """Forget an erased account everywhere: every group about one of its posts goes
        (the posts are remembered deleted), it leaves every group it is a member of
        (counts settle; an emptied group goes), its own groups go, and its username,
        edges and preferences are forgotten."""
        ...

    async def mark_read(self, recipient: int, up_to_id: int | None, ids: Sequence[int]
                        ) -> None:
        """Mark read the groups whose ``sort_key`` is at most that of group ``up_to_id``
        (or at most ``up_to_id`` itself when no such group is left), and the groups
        ``ids``; unknown ids change nothing."""
        ...

    async def trim(self, recipient: int, keep: int) -> None:
        """Drop the recipient's groups beyond the newest ``keep`` (by ``sort_key``)."""
        ...


class NotificationStore(Protocol):
    def writes(self) -> AbstractAsyncContextManager[NotificationWrites]:
        """A batch's transaction (see ``NotificationWrites``)."""
        ...

    async def position(self) -> int:
        """The projector's position (0 before the first event)."""
        ...

    async def advance(self, position: int) -> None:
        """Move the position forward to ``position`` (never backwards)."""
        ...

    async def reset(self) -> None:
        """Forget everything, position included (a rebuild)."""
        ...

    async def after_rebuild(self) -> None:
        """Refresh what a bulk fill leaves stale (the planner's statistics)."""
        ...

    async def summary(self, recipient: int) -> Summary: ...

    async def groups(self, recipient: int, *, before: int | None, limit: int,
                     kinds: Collection[str], hidden: Collection[int]) -> list[StoredGroup]:
        """Up to ``limit`` groups with ``sort_key < before`` (all when ``None``), newest
        first, of the given ``kinds``. Accounts in ``hidden`` are left out of each
        group (its list and its count), and a group with no other member is left out."""
        ...

    async def group(self, recipient: int, group_id: int, hidden: Collection[int]
                    ) -> StoredGroup | None:
        """One group, as ``groups`` shows it; ``None`` when gone or wholly hidden."""
        ...
