"""Blocks and mutes: directed edges between two accounts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import block_uuid, mute_uuid


class Block(Aggregate):
    """While active, neither account may follow, reply to, quote or like the other."""

    @staticmethod
    def create_id(blocker_id: int, blocked_id: int, **_: Any) -> UUID:
        return block_uuid(blocker_id, blocked_id)

    @event("Blocked")
    def __init__(self, blocker_id: int, blocked_id: int) -> None:
        self.blocker_id = blocker_id
        self.blocked_id = blocked_id
        self.active = True

    @event("Reblocked")
    def reblock(self, blocker_id: int, blocked_id: int) -> None:
        self.active = True

    @event("Unblocked")
    def unblock(self, blocker_id: int, blocked_id: int) -> None:
        self.active = False


class Mute(Aggregate):
    """Hides the muted account's posts from the muter; the muted never learns of it."""

    @staticmethod
    def create_id(muter_id: int, muted_id: int, **_: Any) -> UUID:
        return mute_uuid(muter_id, muted_id)

    @event("Muted")
    def __init__(self, muter_id: int, muted_id: int) -> None:
        self.muter_id = muter_id
        self.muted_id = muted_id
        self.active = True

    @event("Remuted")
    def remute(self, muter_id: int, muted_id: int) -> None:
        self.active = True

    @event("Unmuted")
    def unmute(self, muter_id: int, muted_id: int) -> None:
        self.active = False
