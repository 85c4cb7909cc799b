"""What a handler knows about what it changed (the write side's view), and its constructors.

No API formatting here (ids stay integers, moments datetimes, no counts): the
HTTP layer builds the API's objects from these with the constructors of
``queries.shapes`` (``infra.http.answers``).

The views are the shared records of ``ports.records`` (a post's body, a
medium, a profile, a relationship), ``PostView`` and ``InteractionView``: TypedDicts, because a
handler's ``Result.data`` is its view as it is, the plain dict an
Idempotency-Key records in the event store and replays (so reading a result
back is a cast, not a copy). The dicts keep the keys and order they had
before these types existed, so records written then still replay.
"""

# No ``from __future__ import annotations``: TypedDict reads NotRequired[...] at class
# creation (``PostView.__optional_keys__``) only from evaluated annotations.
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, NotRequired, cast

from typing_extensions import TypedDict

from domain.accounts import Account
from domain.media import Media
from domain.posts import Post
from ports.records import MediaBody, OwnProfile, PostBody, Profile, StoredImage


def profile_view(account: Account) -> Profile:
    """An account's public profile as the event store has it (no counts)."""
    return {"id": account.account_id, "username": account.username,
            "display_name": account.display_name, "bio": account.bio,
            "avatar_url": account.avatar_url, "created_at": account.created_on}


def own_profile_view(account: Account) -> OwnProfile:
    """The account as its owner sees it: ``profile_view`` with the email."""
    return {**profile_view(account), "email": account.email}


class PostView(PostBody[datetime]):
    """A post as a handler answers it: its body and ``media``, the attached media as the
    event store has them, in attachment order. ``media`` (and the body's ``media_ids``)
    are absent from answers recorded before media existed: read them with ``.get``."""

    media: NotRequired[list[MediaBody]]


def media_view(media: Media) -> MediaBody:
    """A medium as loaded (or just changed); its variants are new dicts."""
    return {"id": media.media_id, "owner_id": media.owner_id,
            "description": media.description, "blurhash": media.blurhash,
            "original": cast(StoredImage, dict(media.original)),
            "small": cast(StoredImage, dict(media.small))}


def post_view(post: Post, media: Sequence[Media] = ()) -> PostView:
    """A post as created (as loaded) with its ``media`` (the aggregates of its
    ``media_ids`` that exist, in that order): ids as integers, ``created_at`` a
    datetime; ``mentions``, ``hashtags`` and ``media_ids`` are new lists."""
    return {"id": post.post_id, "author_id": post.author_id, "text": post.text,
            "created_at": post.created_on, "reply_to_id": post.reply_to_id,
            "quote_of_id": post.quote_of_id, "mentions": list(post.mentions),
            "hashtags": list(post.hashtags), "media_ids": list(post.media_ids),
            "media": [media_view(m) for m in media]}


class InteractionView(TypedDict):
    """What a like or repost (or its undo) knows about its post.

    ``visible``: whether the actor may still see the post (not deleted, no
    block either way, the author exists); ``author``: the post's author, or
    ``None`` when the event store has no such account; ``flag`` and ``value``:
    the actor's flag on the post after the command.
    """

    post_id: int
    post: PostView
    author: Profile | None
    reply_to_available: bool | None
    visible: bool
    flag: Literal["liked", "reposted"]
    value: bool
