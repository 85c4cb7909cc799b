"""What a handler knows about what it changed (the write side's view), and its constructors.

No API formatting here (ids stay integers, moments datetimes, no counts): the
HTTP layer builds the API's objects from these with the constructors of
``queries.shapes`` (``infra.http.answers``).

The views are the shared records of ``ports.records`` (a post's body, a
profile, a relationship) and ``InteractionView``: TypedDicts, because a
handler's ``Result.data`` is its view as it is, the plain dict an
Idempotency-Key records in the event store and replays (so reading a result
back is a cast, not a copy). The dicts keep the keys and order they had
before these types existed, so records written then still replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from typing_extensions import TypedDict

from domain.accounts import Account
from domain.posts import Post
from ports.records import OwnProfile, PostBody, Profile


def profile_view(account: Account) -> Profile:
    """An account's public profile as the event store has it (no counts)."""
    return {"id": account.account_id, "username": account.username,
            "display_name": account.display_name, "bio": account.bio,
            "avatar_url": account.avatar_url, "created_at": account.created_on}


def own_profile_view(account: Account) -> OwnProfile:
    """The account as its owner sees it: ``profile_view`` with the email."""
    return {**profile_view(account), "email": account.email}


def post_view(post: Post) -> PostBody[datetime]:
    """A post as created (as loaded): ids as integers, ``created_at`` a datetime;
    ``mentions`` and ``hashtags`` are new lists."""
    return {"id": post.post_id, "author_id": post.author_id, "text": post.text,
            "created_at": post.created_on, "reply_to_id": post.reply_to_id,
            "quote_of_id": post.quote_of_id, "mentions": list(post.mentions),
            "hashtags": list(post.hashtags)}


class InteractionView(TypedDict):
    """What a like or repost (or its undo) knows about its post.

    ``visible``: whether the actor may still see the post (not deleted, no
    block either way, the author exists); ``author``: the post's author, or
    ``None`` when the event store has no such account; ``flag`` and ``value``:
    the actor's flag on the post after the command.
    """

    post_id: int
    post: PostBody[datetime]
    author: Profile | None
    reply_to_available: bool | None
    visible: bool
    flag: Literal["liked", "reposted"]
    value: bool
