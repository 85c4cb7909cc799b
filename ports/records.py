"""The records the write side and the read side share, declared once.

* ``PostBody``: a post's immutable body. A handler answers with it
  (``commands.views.post_view``: what the event store recorded), the read
  model keeps it (``ports.read_model_reader.PostRow`` adds the counts), and
  the post cache too (``ports.post_cache.PostBody``: ``created_at``
  already RFC 3339 text, so ``PostBody`` is generic in how a moment is written).
* ``Profile``: an account's public profile, without counts (a handler's
  answer; ``AccountRow`` adds the counts and ``email``); ``OwnProfile``: with
  the email, as only its owner sees it.
* ``Relationship``: how one account and another relate, as a follow, block
  or mute command answers it and as the API shows it (``queries.shapes``).
* ``MediaBody``: an uploaded medium as the event store has it (a handler's
  answer: ``commands.views.media_view``; ``ports.read_model_reader.MediaRow``
  adds its attachment), with its two ``StoredImage`` variants.

Ids are integers and moments aware ``datetime``s (no API formatting: the
constructors of ``queries.shapes`` make the API's objects of these). They
are TypedDicts, so a handler's answer is the plain dict an Idempotency-Key
records and replays, and a read-model row is the dict the driver made; the
keys are in the order records written before these types existed have.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired[...] at class
# creation (``PostBody.__optional_keys__``) only from evaluated annotations.
from datetime import datetime
from typing import Generic, NotRequired, TypeVar

from typing_extensions import TypedDict

Moment = TypeVar("Moment", datetime, str)
"""How a ``PostBody`` writes its moment: an aware ``datetime`` (in whatever time zone
the store answers in), or RFC 3339 text (the post cache)."""


class PostBody(TypedDict, Generic[Moment]):
    """A post's immutable body, as created."""

    id: int
    author_id: int
    text: str
    created_at: Moment
    reply_to_id: int | None
    """The post this one replies to, which may be deleted or absent from the read model."""
    quote_of_id: int | None
    mentions: list[str]
    """The usernames mentioned that existed when the post was made, as they signed up."""
    hashtags: list[str]
    media_ids: NotRequired[list[int]]
    """The attached media, in attachment order (``[]``: none). Absent only from what was
    written before media existed: a post cached or an answer recorded then."""


class StoredImage(TypedDict):
    """One stored variant of a medium: its content-addressed key in the media store
    (``ports.media_store.media_key``), content type, size in pixels and in bytes."""

    key: str
    content_type: str
    width: int
    height: int
    bytes: int


class MediaBody(TypedDict):
    """An uploaded image (``domain.media.Media``): ``original`` (longest side at most
    4,096 px) and ``small`` (640 px) are its stored variants; ``description`` its alt
    text (``""``: none)."""

    id: int
    owner_id: int
    description: str
    blurhash: str
    original: StoredImage
    small: StoredImage


class Profile(TypedDict):
    """An account's public profile (no counts). Absent strings are ``""``."""

    id: int
    username: str
    display_name: str
    bio: str
    avatar_url: str
    created_at: datetime


class OwnProfile(Profile):
    """The profile as its owner sees it: with the email."""

    email: str


class Relationship(TypedDict):
    """How one account (the actor, the reader) and another relate; ``muting`` only as
    the muter sees it."""

    following: bool
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool


def relationship(*, following: bool, followed_by: bool, blocking: bool, blocked_by: bool,
                 muting: bool) -> Relationship:
    """The one constructor of ``Relationship`` (the commands' answers and the query's)."""
    return {"following": following, "followed_by": followed_by, "blocking": blocking,
            "blocked_by": blocked_by, "muting": muting}
