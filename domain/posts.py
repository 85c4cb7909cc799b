"""Posts: created once, never edited, deleted by their author."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.accounts import is_erased_name
from domain.ids import post_uuid


class Post(Aggregate):
    @staticmethod
    def create_id(post_id: int, **_: Any) -> UUID:
        return post_uuid(post_id)

    @event("PostCreated")
    def __init__(
        self,
        post_id: int,
        author_id: int,
        author_username: str,
        text: str,
        mentions: list[str],
        hashtags: list[str],
        reply_to_id: int | None,
        quote_of_id: int | None,
        media_ids: list[int] | None = None,
    ) -> None:
        self.post_id = post_id
        self.author_id = author_id
        self.author_username = author_username
        self.text = text
        self.mentions = mentions
        self.hashtags = hashtags
        self.reply_to_id = reply_to_id
        self.quote_of_id = quote_of_id
        # Absent from events stored before media existed: they load with no media.
        self.media_ids: list[int] = list(media_ids or [])
        self.deleted = False

    @property
    def gone(self) -> bool:
        """Deleted, or its author was erased (the text reads as erased): either way
        nobody may reply to, quote, like or repost it."""
        return self.deleted or is_erased_name(self.author_username)

    @event("PostDeleted")
    def delete(self, post_id: int, author_id: int) -> None:
        self.deleted = True
