"""The notifications store in memory (``ports.notifications``), for unit tests.

Every operation the projector uses per event is a dictionary operation, so a
group of 100,000 members costs the same per like as a group of one, as in the
real adapter.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from domain.moments import rfc3339
from domain.notifications import DEFAULT_PREFERENCES
from ports.notifications import (
    MAX_LISTED,
    EdgeKind,
    OpenGroup,
    Relation,
    StoredGroup,
    Summary,
)

MemberKey = tuple[int, str, int, int]
"""(recipient, kind, target, account)."""


@dataclass
class _Group:
    recipient: int
    group_id: int
    kind: str
    target: int
    post_id: int | None
    first_at: datetime
    latest_at: datetime
    sort_key: int
    read: bool = False
    members: dict[int, tuple[int, datetime]] = field(default_factory=dict)
    """account -> (position, at)."""


@dataclass
class _State:
    position: int = 0
    accounts: dict[str, int] = field(default_factory=dict)
    posts: dict[int, tuple[int, bool]] = field(default_factory=dict)
    edges: dict[tuple[str, int, int], tuple[bool, int]] = field(default_factory=dict)
    preferences: dict[int, tuple[dict[str, str], int]] = field(default_factory=dict)
    groups: dict[tuple[int, int], _Group] = field(default_factory=dict)
    by_target: dict[tuple[int, str, int], list[int]] = field(default_factory=dict)
    members: dict[MemberKey, int] = field(default_factory=dict)
    """Member key -> its group id."""


class FakeNotificationWrites:
    def __init__(self, state: _State) -> None:
        self.s = state

    async def position(self) -> int:
        return self.s.position

    async def set_position(self, position: int) -> None:
        self.s.position = position

    async def remember_account(self, account_id: int, username: str) -> None:
        self.s.accounts.setdefault(username.lower(), account_id)

    async def account_ids(self, usernames: Collection[str]) -> dict[str, int]:
        return {n.lower(): self.s.accounts[n.lower()] for n in usernames
                if n.lower() in self.s.accounts}

    async def remember_post(self, post_id: int, author_id: int) -> None:
        self.s.posts.setdefault(post_id, (author_id, False))

    async def post_author(self, post_id: int) -> int | None:
        author, deleted = self.s.posts.get(post_id, (None, True))
        return None if deleted else author

    async def forget_post(self, post_id: int, author_id: int) -> None:
        self.s.posts[post_id] = (author_id, True)

    async def set_edge(self, kind: EdgeKind, a: int, b: int, active: bool, version: int
                       ) -> None:
        if self.s.edges.get((kind, a, b), (False, 0))[1] < version:
            self.s.edges[(kind, a, b)] = (active, version)

    def _edge(self, kind: str, a: int, b: int) -> bool:
        return self.s.edges.get((kind, a, b), (False, 0))[0]

    async def relation(self, recipient: int, actor: int) -> Relation:
        return Relation(
            blocked=self._edge("block", recipient, actor) or self._edge("block", actor, recipient),
            muted=self._edge("mute", recipient, actor),
            following=self._edge("follow", recipient, actor))

    async def preferences(self, account_id: int) -> dict[str, str]:
        return dict(self.s.preferences.get(account_id, (DEFAULT_PREFERENCES, 0))[0])

    async def set_preferences(self, account_id: int, preferences: dict[str, str],
                              version: int) -> None:
        if self.s.preferences.get(account_id, ({}, 0))[1] < version:
            self.s.preferences[account_id] = (dict(preferences), version)

    async def open_group(self, recipient: int, kind: str, target: int) -> OpenGroup | None:
        ids = self.s.by_target.get((recipient, kind, target))
        if not ids:
            return None
        newest = self.s.groups[(recipient, max(ids))]
        return OpenGroup(newest.group_id, newest.first_at)

    async def create_group(self, recipient: int, group_id: int, kind: str, target: int,
                           post_id: int | None, account_id: int, at: datetime,
                           position: int) -> bool:
        if (recipient, group_id) in self.s.groups or \
                (recipient, kind, target, account_id) in self.s.members:
            return False
        self.s.groups[(recipient, group_id)] = _Group(
            recipient, group_id, kind, target, post_id, at, at, position)
        self.s.by_target.setdefault((recipient, kind, target), []).append(group_id)
        return await self.add_member(recipient, group_id, kind, target, account_id, at,
                                     position)

    async def add_member(self, recipient: int, group_id: int, kind: str, target: int,
                         account_id: int, at: datetime, position: int) -> bool:
        key = (recipient, kind, target, account_id)
        group = self.s.groups.get((recipient, group_id))
        if key in self.s.members or group is None:
            return False
        self.s.members[key] = group_id
        group.members[account_id] = (position, at)
        group.read = False
        if position >= group.sort_key:
            group.sort_key, group.latest_at = position, at
        return True

    async def remove_member(self, recipient: int, kind: str, target: int, account_id: int
                            ) -> None:
        group_id = self.s.members.pop((recipient, kind, target, account_id), None)
        if group_id is None:
            return
        group = self.s.groups[(recipient, group_id)]
        del group.members[account_id]
        if not group.members:
            self._drop(group)
            return
        group.sort_key, group.latest_at = max(group.members.values(), key=lambda m: m[0])

    async def remove_account(self, recipient: int, account_id: int) -> None:
        for key in [k for k in self.s.members if k[0] == recipient and k[3] == account_id]:
            await self.remove_member(*key)

    async def remove_post(self, post_id: int) -> None:
        for group in [g for g in self.s.groups.values() if g.post_id == post_id]:
            self._drop(group)

    async def erase_account(self, account_id: int) -> None:
        for post_id, (author, deleted) in list(self.s.posts.items()):
            if author == account_id and not deleted:
                self.s.posts[post_id] = (author, True)
                await self.remove_post(post_id)
        for key in [k for k in self.s.members if k[3] == account_id]:
            await self.remove_member(*key)
        for group in [g for g in self.s.groups.values() if g.recipient == account_id]:
            self._drop(group)
        self.s.accounts = {n: i for n, i in self.s.accounts.items() if i != account_id}
        self.s.edges = {k: v for k, v in self.s.edges.items() if account_id not in k[1:]}
        self.s.preferences.pop(account_id, None)

    def _drop(self, group: _Group) -> None:
        del self.s.groups[(group.recipient, group.group_id)]
        self.s.by_target[(group.recipient, group.kind, group.target)].remove(group.group_id)
        for account_id in group.members:
            self.s.members.pop((group.recipient, group.kind, group.target, account_id), None)

    async def mark_read(self, recipient: int, up_to_id: int | None, ids: Sequence[int]
                        ) -> None:
        mine = [g for (r, _), g in self.s.groups.items() if r == recipient]
        if up_to_id is not None:
            bound = self.s.groups.get((recipient, up_to_id))
            limit = up_to_id if bound is None else bound.sort_key
            for group in mine:
                group.read = group.read or group.sort_key <= limit
        for group in mine:
            group.read = group.read or group.group_id in ids

    async def trim(self, recipient: int, keep: int) -> None:
        mine = sorted((g for (r, _), g in self.s.groups.items() if r == recipient),
                      key=lambda g: g.sort_key, reverse=True)
        for group in mine[keep:]:
            self._drop(group)


class FakeNotificationStore:
    def __init__(self) -> None:
        self.state = _State()

    @asynccontextmanager
    async def writes(self) -> AsyncIterator[FakeNotificationWrites]:
        """All or nothing: the state is restored if the batch raises."""
        before = copy.deepcopy(self.state)
        try:
            yield FakeNotificationWrites(self.state)
        except BaseException:
            self.state = before
            raise

    async def position(self) -> int:
        return self.state.position

    async def advance(self, position: int) -> None:
        self.state.position = max(self.state.position, position)

    async def reset(self) -> None:
        self.state = _State()

    async def after_rebuild(self) -> None:
        """Nothing to refresh in memory."""

    async def summary(self, recipient: int) -> Summary:
        unread: dict[str, int] = {}
        for (r, _), group in self.state.groups.items():
            if r == recipient and not group.read:
                unread[group.kind] = unread.get(group.kind, 0) + 1
        preferences = await FakeNotificationWrites(self.state).preferences(recipient)
        return Summary(preferences, unread)

    def _shown(self, group: _Group, hidden: Collection[int]) -> StoredGroup | None:
        visible = sorted(((position, at, account) for account, (position, at)
                          in group.members.items() if account not in hidden), reverse=True)
        if not visible:
            return None
        return StoredGroup(
            group_id=group.group_id, kind=group.kind, post_id=group.post_id,
            account_ids=tuple(account for _, _, account in visible[:MAX_LISTED]),
            accounts_count=len(visible), latest_at=rfc3339(group.latest_at),
            sort_key=group.sort_key, read=group.read)

    async def groups(self, recipient: int, *, before: int | None, limit: int,
                     kinds: Collection[str], hidden: Collection[int]) -> list[StoredGroup]:
        candidates = sorted(
            (g for (r, _), g in self.state.groups.items()
             if r == recipient and g.kind in kinds
             and (before is None or g.sort_key < before)),
            key=lambda g: g.sort_key, reverse=True)
        shown = [s for g in candidates if (s := self._shown(g, hidden)) is not None]
        return shown[:limit]

    async def group(self, recipient: int, group_id: int, hidden: Collection[int]
                    ) -> StoredGroup | None:
        found = self.state.groups.get((recipient, group_id))
        return None if found is None else self._shown(found, hidden)
