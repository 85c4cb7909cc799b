"""The API's objects: the TypedDicts of ``queries.shapes``, their constructors, the
pydantic response models that document them, and the write side's views.

The response models in ``infra.http.schemas`` generate the OpenAPI document;
the TypedDicts are what the code builds. These tests fail when the two drift
apart (a field added, removed, renamed, retyped or made optional in one only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, Field, TypeAdapter

from commands.views import (
    InteractionView,
    PostView,
    media_view,
    own_profile_view,
    post_view,
    profile_view,
)
from domain.accounts import Account
from domain.media import Media
from domain.posts import Post
from infra.http import schemas
from infra.http.answers import account_answer, media_answer, own_account_answer, post_answer
from ports.records import MediaBody, OwnProfile, PostBody, Profile, Relationship, StoredImage
from queries import admin_events, shapes

NOT_SCHEMA = frozenset({"title", "description", "default"})
# The one response model Account documents both TypedDicts: Account, and
# OwnAccount, whose email it shows as optional ("only for the account's owner").
OPTIONAL_EMAIL = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def plain(schema: Any) -> Any:
    """A JSON schema without titles, descriptions and defaults (words, not shape)."""
    if isinstance(schema, dict):
        return {key: plain(value) for key, value in schema.items() if key not in NOT_SCHEMA}
    if isinstance(schema, list):
        return [plain(item) for item in schema]
    return schema


def typed_schema(typed: Any) -> Any:
    """The schema of a TypedDict, with the response model's optional email on Account."""
    schema = plain(TypeAdapter(typed).json_schema())
    account = schema if typed is shapes.Account else schema.get("$defs", {}).get("Account")
    if account is not None:
        account["properties"]["email"] = OPTIONAL_EMAIL
    return schema


@pytest.mark.parametrize(("typed", "model"), [
    (shapes.Account, schemas.Account),
    (shapes.Relationship, schemas.Relationship),
    (shapes.Media, schemas.Media),
    (shapes.Post, schemas.Post),
    (shapes.Thread, schemas.Thread),
    (shapes.Page[shapes.Post], schemas.page_of(schemas.Post)),
    (shapes.Page[shapes.Account], schemas.page_of(schemas.Account)),
    (shapes.TrendingTag, schemas.TrendingTag),
    (shapes.NotificationGroup, schemas.NotificationGroup),
    (shapes.Page[shapes.NotificationGroup], schemas.page_of(schemas.NotificationGroup)),
    (admin_events.Event, schemas.Event),
    (shapes.Page[admin_events.Event], schemas.page_of(schemas.Event)),
])
def test_each_response_model_declares_its_typed_shape(typed: Any, model: type[BaseModel]
                                                       ) -> None:
    assert plain(model.model_json_schema()) == typed_schema(typed)


def test_a_response_model_is_made_from_its_typed_shape_only() -> None:
    """A description for a key the TypedDict lacks is refused, not silently dropped."""
    with pytest.raises(TypeError, match="Relationship has no key friends"):
        schemas.response_model(shapes.Relationship, friends=Field(description="?"))
    assert list(schemas.Post.model_fields) == list(shapes.Post.__annotations__)
    assert schemas.page_of(schemas.Post) is schemas.page_of(schemas.Post)


def test_the_own_account_is_the_account_with_a_required_email() -> None:
    own = TypeAdapter(shapes.OwnAccount).json_schema()
    public = TypeAdapter(shapes.Account).json_schema()
    assert own["required"] == [*public["required"], "email"]
    assert own["properties"] == {**public["properties"],
                                 "email": {"title": "Email", "type": "string"}}
    assert "email" not in schemas.Account.model_json_schema()["required"]


def test_only_reply_to_available_is_optional_in_a_post() -> None:
    assert shapes.Post.__optional_keys__ == {"reply_to_available"}
    assert {name for name, field in schemas.Post.model_fields.items()
            if not field.is_required()} == {"reply_to_available"}


MOMENT = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)
ALICE = OwnProfile(id=7, username="alice", display_name="Alice", bio="", avatar_url="",
                   created_at=MOMENT, email="alice@example.com")


def a_post(id: int, reply_to_id: int | None, quote_of_id: int | None,
           mentions: list[str], hashtags: list[str]) -> PostView:
    return PostView(id=id, author_id=7, text="hello", created_at=MOMENT, reply_to_id=reply_to_id,
                    quote_of_id=quote_of_id, mentions=mentions, hashtags=hashtags)


ORIGINAL = StoredImage(key="ab/cd/abcd.jpg", content_type="image/jpeg", width=4000,
                       height=3000, bytes=123456)
SMALL = StoredImage(key="ef/01/ef01.jpg", content_type="image/jpeg", width=640, height=480,
                    bytes=23456)
PICTURE = MediaBody(id=21, owner_id=7, description="a cat", blurhash="LEHV6n",
                    original=ORIGINAL, small=SMALL)


def test_constructors_write_the_keys_in_the_documented_order() -> None:
    """The hot reads are written by orjson as built: the order is the model's."""
    own = own_account_answer(ALICE)
    assert list(own) == list(schemas.Account.model_fields)
    author = account_answer(ALICE)
    assert list(author) == [name for name in schemas.Account.model_fields if name != "email"]
    post = shapes.post(id=1, author=author, text="hi", created_at=MOMENT, reply_to_id=None,
                       quote_of_id=None, mentions=[], hashtags=[], reply_to_available=None)
    assert list(post) == list(schemas.Post.model_fields)
    assert list(shapes.relationship(following=True, followed_by=False, blocking=False,
                                    blocked_by=False, muting=False)) == \
        list(schemas.Relationship.model_fields)
    assert list(media_answer(PICTURE, None)) == list(schemas.Media.model_fields)
    assert list(shapes.page([post], None)) == ["items", "next_cursor"]
    assert list(shapes.thread([], [post])) == ["ancestors", "descendants"]


def test_account_and_post_from_the_write_side() -> None:
    author = account_answer(ALICE, {**account_answer(ALICE), "followers_count": 3})
    assert author == {"id": "7", "username": "alice", "display_name": "Alice", "bio": "",
                      "avatar_url": "", "created_at": "2026-11-24T10:00:00.123Z",
                      "followers_count": 3, "following_count": 0, "posts_count": 0}
    assert own_account_answer(ALICE) == {**account_answer(ALICE),
                                         "email": "alice@example.com"}
    root = a_post(11, None, 12, ["bob"], ["roost"])
    post = post_answer(root, author, True)
    assert "reply_to_available" not in post  # docs/api.md: absent for a non-reply
    assert (post["id"], post["quote_of_id"], post["created_at"], post["liked"]) == (
        "11", "12", "2026-11-24T10:00:00.123Z", False)
    reply = post_answer(a_post(13, 11, None, [], []), author, False)
    assert (reply["reply_to_id"], reply["reply_to_available"]) == ("11", False)
    assert post["media"] == reply["media"] == []  # answers recorded before media had none


def test_media_from_the_write_side() -> None:
    """``url`` and ``preview_url`` are the API's routes, or ``<base>/<key>`` with a base
    URL; a post's answer shows its media in attachment order."""
    assert media_answer(PICTURE, None) == {
        "id": "21", "type": "image", "url": "/api/media/21/original",
        "preview_url": "/api/media/21/small", "description": "a cat", "blurhash": "LEHV6n",
        "meta": {"original": {"width": 4000, "height": 3000},
                 "small": {"width": 640, "height": 480}}}
    cdn = media_answer(PICTURE, "https://cdn.example/media/")
    assert (cdn["url"], cdn["preview_url"]) == ("https://cdn.example/media/ab/cd/abcd.jpg",
                                                "https://cdn.example/media/ef/01/ef01.jpg")
    second = MediaBody(**{**PICTURE, "id": 22, "description": ""})
    view = PostView(**a_post(11, None, None, [], []), media_ids=[22, 21],
                    media=[second, PICTURE])
    post = post_answer(view, account_answer(ALICE), None)
    assert [m["id"] for m in post["media"]] == ["22", "21"]
    assert post["media"][1] == media_answer(PICTURE, None)


def test_a_repost_item_wraps_the_original() -> None:
    author = account_answer(ALICE)
    original = shapes.post(id=1, author=author, text="hi", created_at="2026-11-24T10:00:00.123Z",
                           reply_to_id=None, quote_of_id=None, mentions=[], hashtags=[],
                           reply_to_available=None, likes_count=2)
    item = shapes.post(id=2, author=author, text="", created_at=MOMENT, reply_to_id=None,
                       quote_of_id=None, mentions=[], hashtags=[], reply_to_available=None,
                       repost_of=original)
    assert item["repost_of"] is original and item["likes_count"] == 0
    assert orjson.loads(orjson.dumps(item))["repost_of"]["likes_count"] == 2


# The answers an Idempotency-Key records (and replays for 24 h): these keys, in
# this order, as before the views were typed, so that older records replay.
RECORDED_KEYS = {
    OwnProfile: ["id", "username", "display_name", "bio", "avatar_url", "created_at", "email"],
    Profile: ["id", "username", "display_name", "bio", "avatar_url", "created_at"],
    PostBody: ["id", "author_id", "text", "created_at", "reply_to_id", "quote_of_id",
               "mentions", "hashtags", "media_ids"],
    PostView: ["id", "author_id", "text", "created_at", "reply_to_id", "quote_of_id",
               "mentions", "hashtags", "media_ids", "media"],
    MediaBody: ["id", "owner_id", "description", "blurhash", "original", "small"],
    Relationship: ["following", "followed_by", "blocking", "blocked_by", "muting"],
    InteractionView: ["post_id", "post", "author", "reply_to_available", "visible", "flag",
                      "value"],
}


def test_the_recorded_answers_keep_their_keys() -> None:
    """The views' keys, as declared and as the write side's constructors make them."""
    account = Account(account_id=7, username="alice", email="alice@example.com",
                      password_hash="x", display_name="Alice")
    medium = Media(media_id=21, owner_id=7, owner_username="alice", description="a cat",
                   blurhash="LEHV6n", original=dict(ORIGINAL), small=dict(SMALL))
    post = Post(post_id=11, author_id=7, author_username="alice", text="hello",
                mentions=["bob"], hashtags=[], reply_to_id=None, quote_of_id=None,
                media_ids=[21])
    made: dict[Any, Any] = {OwnProfile: own_profile_view(account),
                            Profile: profile_view(account), PostView: post_view(post, [medium]),
                            MediaBody: media_view(medium)}
    for typed, keys in RECORDED_KEYS.items():
        assert list(typed.__annotations__) == keys
        if typed in made:
            assert list(made[typed]) == keys
    assert made[OwnProfile] == {**ALICE, "created_at": account.created_on}
    assert made[PostView]["mentions"] == ["bob"]
    assert made[PostView]["mentions"] is not post.mentions  # a list of its own
    assert made[PostView]["media"] == [PICTURE] == [made[MediaBody]]
    assert made[MediaBody]["original"] is not medium.original
    # What a post written before media has (an old PostCreated, an old recorded answer).
    assert PostBody.__optional_keys__ == frozenset({"media_ids"})
    assert PostView.__optional_keys__ == frozenset({"media_ids", "media"})
