"""Posts: created once, never edited, deleted by their author.

``PostCreated`` is at schema version 3: version 1 had no ``language``, version 2
no ``media_ids``. Its upcasters give events stored before each change
``language=None`` and ``media_ids=[]`` whenever they are loaded
(``eventsourcing`` runs ``upcast_v1_v2`` then ``upcast_v2_v3`` on the stored
state) or published (``infra.eventlog`` runs the same chain on the envelope's
payload).
docs/architecture.md, "Event schema versions", says how to make the next change.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.accounts import is_erased_name
from domain.ids import post_uuid

MAX_LANGUAGE = 35
"""The longest language tag taken (RFC 5646 section 4.4.1 asks at least this much room)."""
LANGUAGE_PATTERN = r"^[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*$"
"""The shape of a language tag (ASCII subtags of 1-8 letters or digits, ``-`` between)."""
_TAG_SHAPE = re.compile(LANGUAGE_PATTERN)


class Post(Aggregate):
    class PostCreated(Aggregate.Created):
        """A post was published. v2 added ``language`` (a BCP 47 tag, or ``None``);
        v3 added ``media_ids`` (ids of attached media, ``[]`` when none)."""

        post_id: int
        author_id: int
        author_username: str
        text: str
        mentions: list[str]
        hashtags: list[str]
        reply_to_id: int | None
        quote_of_id: int | None
        language: str | None
        media_ids: list[int]

        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v1 had no language: an old post's is unknown (nothing is guessed from
            its text). Works on the stored state and on a published payload alike."""
            state["language"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v2 had no media: an old post has none attached. Works on the stored
            state and on a published payload alike."""
            state["media_ids"] = []

    @staticmethod
    def create_id(post_id: int, **_: Any) -> UUID:
        return post_uuid(post_id)

    @event(PostCreated)
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
        language: str | None = None,
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
        self.language = language
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


class UnknownLanguage(ValueError):
    """A tag of the right shape whose subtags the registry does not hold (``xx``)."""


def language_tag(value: str) -> str:
    """The canonical form of a BCP 47 language tag (``EN-us`` -> ``en-US``).

    Strict: ASCII subtags of 1-8 letters or digits joined by ``-`` (no ``_``, no
    empty subtag), at most 35 characters, and well formed and registered in the
    IANA subtag registry as ``langcodes`` knows it (``xx`` and ``english`` are
    refused; private use ``x-...`` and ``qaa``-``qtz`` are taken).

    Raises:
        UnknownLanguage: well formed, but not a registered language (``xx-YY``).
        ValueError: with a reason, for any other value.
    """
    import langcodes  # only posts that carry a language pay for the import

    reason = "must be a BCP 47 language tag such as en, pt-BR or zh-Hant"
    if len(value) > MAX_LANGUAGE or not _TAG_SHAPE.fullmatch(value):
        raise ValueError(reason)
    try:
        valid = langcodes.tag_is_valid(value)
        canonical = str(langcodes.standardize_tag(value)) if valid else ""
    except (ValueError, LookupError):  # langcodes.LanguageTagError is a ValueError
        raise ValueError(reason) from None
    if not valid:
        raise UnknownLanguage(f"{reason}: {value!r} is not a registered language tag")
    return canonical
