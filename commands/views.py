"""What a handler knows about what it changed, as small typed values (the write side's view).

No API formatting here (ids stay integers, moments datetimes, no counts): the
HTTP layer builds the API's objects from these with the constructors of
``queries.shapes`` (``infra.http.answers``).

A handler's ``Result.data`` is ``view.as_answer()``, a plain dict, because it
is also the answer an Idempotency-Key records in the event store and replays;
``from_answer`` reads such a dict back, whether just made or replayed from a
record. The dicts keep the keys and order they had before these types
existed, so records written then still replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from domain.accounts import Account
from domain.media import Media
from domain.posts import Post


class _Answered:
    """``as_answer`` / ``from_answer`` for the dataclasses below."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> Self:
        """The view of an answer (a dict made by ``as_answer``, maybe replayed)."""
        # A field added later (with a default) is absent from older recorded answers.
        return cls(**{f.name: answer[f.name] for f in fields(cls) if f.name in answer})

    def as_answer(self) -> dict[str, Any]:
        """The answer recorded for this view: a dict of its fields, nested views too."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AccountView(_Answered):
    """An account's public profile as the event store has it (no counts)."""

    id: int
    username: str
    display_name: str
    bio: str
    avatar_url: str
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> Self:
        """The view of the aggregate as loaded (or just changed)."""
        return cls(account.account_id, account.username, account.display_name, account.bio,
                   account.avatar_url, account.created_on)


@dataclass(frozen=True, slots=True)
class OwnAccountView(AccountView):
    """The account as its owner sees it: with the email."""

    email: str

    @classmethod
    def of(cls, account: Account) -> Self:
        """The view of the aggregate as loaded (or just changed), with its email."""
        return cls(account.account_id, account.username, account.display_name, account.bio,
                   account.avatar_url, account.created_on, account.email)


@dataclass(frozen=True, slots=True)
class PostView(_Answered):
    """A post as created: ids as integers, ``created_at`` a datetime."""

    id: int
    author_id: int
    text: str
    created_at: datetime
    reply_to_id: int | None
    quote_of_id: int | None
    mentions: list[str]
    hashtags: list[str]
    media: list[dict[str, Any]] = field(default_factory=list)
    """The attached media's ``MediaView.as_answer()``, in attachment order."""

    @classmethod
    def of(cls, post: Post, media: list[Media] | None = None) -> Self:
        """The view of the aggregate as created, with its ``media`` (attachment order)."""
        return cls(post.post_id, post.author_id, post.text, post.created_on, post.reply_to_id,
                   post.quote_of_id, list(post.mentions), list(post.hashtags),
                   [MediaView.of(m).as_answer() for m in media or ()])


@dataclass(frozen=True, slots=True)
class MediaView(_Answered):
    """A medium as the event store has it: ``original`` and ``small`` are the stored
    variants (``{"key", "content_type", "width", "height", "bytes"}``)."""

    id: int
    owner_id: int
    description: str
    blurhash: str
    original: dict[str, Any]
    small: dict[str, Any]

    @classmethod
    def of(cls, media: Media) -> Self:
        """The view of the aggregate as loaded (or just changed)."""
        return cls(media.media_id, media.owner_id, media.description, media.blurhash,
                   dict(media.original), dict(media.small))


@dataclass(frozen=True, slots=True)
class RelationshipView(_Answered):
    """How the actor and another account relate, as the event store has it now."""

    following: bool
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool


@dataclass(frozen=True, slots=True)
class InteractionView(_Answered):
    """What a like or repost (or its undo) knows about its post.

    ``visible``: whether the actor may still see the post (not deleted, no
    block either way, the author exists); ``author``: the post's author, or
    ``None`` when the event store has no such account; ``flag`` and ``value``:
    the actor's flag on the post after the command.
    """

    post_id: int
    post: PostView
    author: AccountView | None
    reply_to_available: bool | None
    visible: bool
    flag: Literal["liked", "reposted"]
    value: bool

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> Self:
        """The view of an answer, its post and author views included."""
        author = answer["author"]
        return cls(answer["post_id"], PostView.from_answer(answer["post"]),
                   None if author is None else AccountView.from_answer(author),
                   answer["reply_to_available"], answer["visible"], answer["flag"],
                   answer["value"])
