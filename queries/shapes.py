"""The API's objects (docs/api.md, "Shapes"): one TypedDict and one constructor each.

Every answer that shows one of these objects builds it with the constructor
here: the queries and hydration from read-model rows (``ports.read_model_reader``),
the answers of commands (``infra.http.answers``) from what the handler
recorded. The pydantic response models in ``infra.http.schemas``, which
document the same objects in the OpenAPI document, are made from these
TypedDicts (``response_model``); ``tests/unit/test_api_shapes.py`` checks that
the two agree. ``Relationship`` is the record ``ports.records.Relationship``
that a follow, block or mute command answers with.

They are TypedDicts, so an answer is a plain dict that orjson writes as it is
(the hot reads skip pydantic); their keys are in the documented order.
Ids are decimal strings and moments RFC 3339 text (``domain.moments``).
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired[...] at
# class creation (``Post.__optional_keys__``) only from evaluated annotations.
from datetime import datetime
from typing import Generic, Literal, NotRequired, TypeVar

# typing_extensions' TypedDict, which pydantic can read on Python 3.11 (the drift test).
from typing_extensions import TypedDict

from domain.moments import rfc3339
from domain.notifications import NOTIFICATION_TYPES, NotificationType
from ports.read_model_reader import AccountRow

# The API shows the record as it is, built by its one constructor.
from ports.records import Relationship as Relationship
from ports.records import relationship as relationship

T = TypeVar("T")


class Account(TypedDict):
    """A public profile. Absent strings are ``""``; counts from the read model."""

    id: str
    username: str
    display_name: str
    bio: str
    avatar_url: str
    created_at: str
    followers_count: int
    following_count: int
    posts_count: int


class OwnAccount(Account):
    """The reader's own account (sign-up, ``GET``/``PATCH /api/accounts/me``): with email."""

    email: str


class Size(TypedDict):
    """An image's size in pixels."""

    width: int
    height: int


class MediaMeta(TypedDict):
    """The sizes of a medium's two variants."""

    original: Size
    small: Size


class Media(TypedDict):
    """An uploaded image (docs/api.md, "Media"): ``url`` serves the original (longest
    side at most 4,096 px), ``preview_url`` the small variant (640 px); ``description``
    its alt text (``""``: none)."""

    id: str
    type: Literal["image"]
    url: str
    preview_url: str
    description: str
    blurhash: str
    meta: MediaMeta


class Post(TypedDict):
    """A post, or (with ``repost_of``) a repost item of a timeline.

    ``reply_to_available`` is absent only in a write's answer about a post that
    is not a reply (docs/api.md); ``media`` in attachment order.
    """

    id: str
    author: Account
    text: str
    created_at: str
    reply_to_id: str | None
    reply_to_available: NotRequired[bool | None]
    quote_of_id: str | None
    repost_of: "Post | None"
    mentions: list[str]
    hashtags: list[str]
    media: list[Media]
    likes_count: int
    replies_count: int
    reposts_count: int
    liked: bool
    reposted: bool


class Thread(TypedDict):
    """``GET /api/posts/{id}/context``: ancestors root first, descendants depth-first."""

    ancestors: list[Post]
    descendants: list[Post]


class NotificationGroup(TypedDict):
    """A notification group (``GET /api/notifications``): ``post`` is null for follows;
    ``accounts`` most recent first, at most 8; ``accounts_count`` counts them all."""

    id: str
    type: NotificationType
    post: Post | None
    accounts: list[Account]
    accounts_count: int
    latest_at: str
    read: bool


class TrendingTag(TypedDict):
    """A hashtag rising in a window: its score against its own baseline, and the posts
    and distinct accounts that used it in the window."""

    tag: str
    score: float
    posts_count: int
    accounts_count: int


class Page(TypedDict, Generic[T]):
    """One page of a list; ``next_cursor`` is ``None`` on the last page."""

    items: list[T]
    next_cursor: str | None


def account(*, id: int, username: str, display_name: str, bio: str, avatar_url: str,
            created_at: datetime | str, followers_count: int, following_count: int,
            posts_count: int) -> Account:
    """The one constructor of ``Account``; ``created_at`` a datetime or its RFC 3339 text
    (as the facts cache keeps it)."""
    return {
        "id": str(id),
        "username": username,
        "display_name": display_name,
        "bio": bio,
        "avatar_url": avatar_url,
        "created_at": created_at if isinstance(created_at, str) else rfc3339(created_at),
        "followers_count": followers_count,
        "following_count": following_count,
        "posts_count": posts_count,
    }


def own_account(public: Account, *, email: str) -> OwnAccount:
    """The one constructor of ``OwnAccount``: ``public`` with the owner's email."""
    return {**public, "email": email}


def post(*, id: int, author: Account, text: str, created_at: datetime | str,
         reply_to_id: int | None, quote_of_id: int | None, mentions: list[str],
         hashtags: list[str], reply_to_available: bool | None,
         likes_count: int = 0, replies_count: int = 0, reposts_count: int = 0,
         liked: bool = False, reposted: bool = False, repost_of: Post | None = None,
         media: list[Media] | None = None) -> Post:
    """The one constructor of ``Post``.

    ``created_at`` is a datetime, or its RFC 3339 text as the post cache keeps
    it. ``mentions`` and ``hashtags`` are used as given (not copied). Counts
    and the reader's flags default to a post nobody has touched yet.
    """
    return {
        "id": str(id),
        "author": author,
        "text": text,
        "created_at": created_at if isinstance(created_at, str) else rfc3339(created_at),
        "reply_to_id": None if reply_to_id is None else str(reply_to_id),
        "reply_to_available": reply_to_available,
        "quote_of_id": None if quote_of_id is None else str(quote_of_id),
        "repost_of": repost_of,
        "mentions": mentions,
        "hashtags": hashtags,
        "media": media or [],
        "likes_count": likes_count,
        "replies_count": replies_count,
        "reposts_count": reposts_count,
        "liked": liked,
        "reposted": reposted,
    }


def media(*, id: int, url: str, preview_url: str, description: str, blurhash: str,
          original: tuple[int, int], small: tuple[int, int]) -> Media:
    """The one constructor of ``Media``; ``original`` and ``small`` are (width, height)."""
    return {"id": str(id), "type": "image", "url": url, "preview_url": preview_url,
            "description": description, "blurhash": blurhash,
            "meta": {"original": {"width": original[0], "height": original[1]},
                     "small": {"width": small[0], "height": small[1]}}}


def thread(ancestors: list[Post], descendants: list[Post]) -> Thread:
    """The one constructor of ``Thread``."""
    return {"ancestors": ancestors, "descendants": descendants}


def trending_tag(*, tag: str, score: float, posts_count: int, accounts_count: int
                 ) -> TrendingTag:
    """The one constructor of ``TrendingTag``; ``score`` rounded to 3 decimals."""
    return {"tag": tag, "score": round(score, 3), "posts_count": posts_count,
            "accounts_count": accounts_count}


def page(items: list[T], next_cursor: str | None) -> Page[T]:
    """The one constructor of ``Page``."""
    return {"items": items, "next_cursor": next_cursor}


def account_of_row(row: AccountRow) -> Account:
    """The ``Account`` of a read-model row (``ports.read_model_reader.AccountRow``, or a
    row that extends it), read by name."""
    return account(id=row["id"], username=row["username"], display_name=row["display_name"],
                   bio=row["bio"], avatar_url=row["avatar_url"], created_at=row["created_at"],
                   followers_count=row["followers_count"],
                   following_count=row["following_count"], posts_count=row["posts_count"])


def notification_group(*, id: int, type: str, post: Post | None, accounts: list[Account],
                       accounts_count: int, latest_at: datetime | str, read: bool
                       ) -> NotificationGroup:
    """The one constructor of ``NotificationGroup``; ``latest_at`` a datetime or RFC 3339
    text.

    Raises:
        ValueError: ``type`` is no notification type.
    """
    if type not in NOTIFICATION_TYPES:
        raise ValueError(f"no notification type {type!r}")
    return {"id": str(id), "type": type, "post": post,
            "accounts": accounts, "accounts_count": accounts_count,
            "latest_at": latest_at if isinstance(latest_at, str) else rfc3339(latest_at),
            "read": read}
