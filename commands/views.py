"""The shapes handlers answer with, built from aggregates (the write side's view)."""

from __future__ import annotations

from typing import Any

from domain.accounts import Account
from domain.posts import Post


def account_view(account: Account, *, with_email: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": account.account_id,
        "username": account.username,
        "display_name": account.display_name,
        "bio": account.bio,
        "avatar_url": account.avatar_url,
        "created_at": account.created_on,
    }
    if with_email:
        view["email"] = account.email
    return view


def post_view(post: Post) -> dict[str, Any]:
    return {
        "id": post.post_id,
        "author_id": post.author_id,
        "text": post.text,
        "created_at": post.created_on,
        "reply_to_id": post.reply_to_id,
        "quote_of_id": post.quote_of_id,
        "mentions": list(post.mentions),
        "hashtags": list(post.hashtags),
    }
