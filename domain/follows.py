"""Follow edges: one aggregate per (follower, followee) pair.

An edge is created by the first follow and toggles after that; keeping it
out of both accounts means a popular account is never a hot aggregate.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import follow_uuid


class FollowEdge(Aggregate):
    @staticmethod
    def create_id(follower_id: int, followee_id: int, **_: Any) -> UUID:
        return follow_uuid(follower_id, followee_id)

    @event("Followed")
    def __init__(self, follower_id: int, followee_id: int) -> None:
        self.follower_id = follower_id
        self.followee_id = followee_id
        self.active = True

    @event("Refollowed")
    def refollow(self, follower_id: int, followee_id: int) -> None:
        self.active = True

    @event("Unfollowed")
    def unfollow(self, follower_id: int, followee_id: int) -> None:
        self.active = False
