"""The JSON shapes of API.md, built from read-model rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from infra.serialization import rfc3339

ACCOUNT_COLUMNS = (
    "a.id, a.username, a.display_name, a.bio, a.avatar_url, a.created_at, "
    "a.followers_count, a.following_count, a.posts_count, a.email"
)
POST_COLUMNS = (
    "p.id, p.text, p.created_at, p.reply_to_id, p.quote_of_id, p.mentions, p.hashtags"
)


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def account_shape(row: tuple[Any, ...], *, with_email: bool = False) -> dict[str, Any]:
    (id_, username, display_name, bio, avatar_url, created_at, followers, following, posts,
     email) = row[:10]
    shape: dict[str, Any] = {
        "id": str(id_),
        "username": username,
        "display_name": display_name,
        "bio": bio,
        "avatar_url": avatar_url,
        "created_at": rfc3339(created_at),
        "followers_count": followers,
        "following_count": following,
        "posts_count": posts,
    }
    if with_email:
        shape["email"] = email
    return shape


def post_shape(row: tuple[Any, ...], author: dict[str, Any]) -> dict[str, Any]:
    id_, text, created_at, reply_to_id, quote_of_id, mentions, hashtags = row[:7]
    return {
        "id": str(id_),
        "author": author,
        "text": text,
        "created_at": rfc3339(created_at) if isinstance(created_at, datetime) else created_at,
        "reply_to_id": _id(reply_to_id),
        "quote_of_id": _id(quote_of_id),
        "repost_of": None,
        "mentions": list(mentions),
        "hashtags": list(hashtags),
        "media": [],
        "likes_count": 0,
        "replies_count": 0,
        "reposts_count": 0,
        "liked": False,
        "reposted": False,
    }


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
