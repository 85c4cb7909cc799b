"""Media: images uploaded by an account, described (alt text) and attached to one post.

The bytes never enter an event: ``MediaUploaded`` records the content-addressed
keys of the two stored variants (``ports.media_store``), their pixel sizes and
content type, and the blurhash. A medium is attached once, to one post of its
owner, in the same transaction as the ``PostCreated`` that lists it in
``media_ids`` (``MediaAttached``), so two posts racing for one medium clash in
the event store and only one wins. A medium left unattached for
``UNATTACHED_TTL`` is gone: it can no longer be attached or read, and the
sweeper (``infra.media_sweeper``) removes its files.

The description (alt text) is the owner's personal text: ``MediaUploaded`` and
``MediaDescribed`` name the owner's username (``owner_username``, as
``PostCreated`` names its author's) so that the event store can seal both with the
owner's key (``infra.personal_data.SEALED``); once the owner is erased they read
as ``""`` and an erased name, and the medium is ``gone``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.accounts import is_erased_name
from domain.ids import media_uuid
from domain.text import text_problem

MAX_DESCRIPTION: Final = 1500
"""Alt text: at most this many code points (after NFC and trimming)."""
MAX_MEDIA_PER_POST: Final = 4
UNATTACHED_TTL: Final = timedelta(hours=24)
"""A medium not attached to a post within this long after its upload is gone."""


class Media(Aggregate):
    """One uploaded image. ``original`` and ``small`` are the stored variants, each
    ``{"key": sha256 hex, "content_type": str, "width": px, "height": px, "bytes": int}``."""

    @staticmethod
    def create_id(media_id: int, **_: Any) -> UUID:
        return media_uuid(media_id)

    @event("MediaUploaded")
    def __init__(
        self,
        media_id: int,
        owner_id: int,
        owner_username: str,
        description: str,
        blurhash: str,
        original: dict[str, Any],
        small: dict[str, Any],
    ) -> None:
        self.media_id = media_id
        self.owner_id = owner_id
        self.owner_username = owner_username
        self.description = description
        self.blurhash = blurhash
        self.original = original
        self.small = small
        self.post_id: int | None = None

    @event("MediaDescribed")
    def describe(self, media_id: int, owner_username: str, description: str) -> None:
        self.description = description

    @event("MediaAttached")
    def attach(self, media_id: int, post_id: int, owner_id: int) -> None:
        self.post_id = post_id

    def expired(self, now: datetime) -> bool:
        """Whether the medium was left unattached too long to be attached or read."""
        return self.post_id is None and now - self.created_on >= UNATTACHED_TTL

    def gone(self, now: datetime) -> bool:
        """Expired, or its owner was erased (its alt text reads as erased): either way
        nobody may attach, describe or read it any more."""
        return self.expired(now) or is_erased_name(self.owner_username)


def description_problem(description: str) -> str | None:
    """Why a description (NFC-normalised and trimmed, ``domain.text.normalise_text``)
    is refused, or ``None``: the text rule of every client text (newline and tab
    allowed), at most ``MAX_DESCRIPTION`` code points; empty is no description."""
    if problem := text_problem(description, multiline=True):
        return problem
    if len(description) > MAX_DESCRIPTION:
        return f"must be at most {MAX_DESCRIPTION} characters"
    return None
