"""Likes and reposts: one edge aggregate per (account, post).

Edges live outside the post, so a viral post's likes never contend on one
aggregate; the edge id is derived from the pair, so a like is idempotent.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import like_uuid, repost_uuid


class Like(Aggregate):
    @staticmethod
    def create_id(account_id: int, post_id: int, **_: Any) -> UUID:
        return like_uuid(account_id, post_id)

    @event("Liked")
    def __init__(self, account_id: int, post_id: int, post_author_id: int) -> None:
        self.account_id = account_id
        self.post_id = post_id
        self.post_author_id = post_author_id
        self.active = True

    @event("Reliked")
    def relike(self, account_id: int, post_id: int, post_author_id: int) -> None:
        self.active = True

    @event("Unliked")
    def unlike(self, account_id: int, post_id: int, post_author_id: int) -> None:
        self.active = False


class Repost(Aggregate):
    """A repost is an item of its own (``repost_id``) in timelines; each repost
    after an undo gets a fresh id, as it appears anew at the top."""

    @staticmethod
    def create_id(account_id: int, post_id: int, **_: Any) -> UUID:
        return repost_uuid(account_id, post_id)

    @event("Reposted")
    def __init__(self, account_id: int, post_id: int, post_author_id: int, repost_id: int
                 ) -> None:
        self.account_id = account_id
        self.post_id = post_id
        self.post_author_id = post_author_id
        self.repost_id = repost_id
        self.active = True

    @event("Rereposted")
    def repost_again(self, account_id: int, post_id: int, post_author_id: int, repost_id: int
                     ) -> None:
        self.repost_id = repost_id
        self.active = True

    @event("Unreposted")
    def unrepost(self, account_id: int, post_id: int, post_author_id: int, repost_id: int
                 ) -> None:
        self.active = False
