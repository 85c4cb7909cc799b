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
from pydantic import BaseModel, TypeAdapter

from commands.views import (
    AccountView,
    InteractionView,
    OwnAccountView,
    PostView,
    RelationshipView,
)
from infra.http import schemas
from infra.http.answers import account_answer, own_account_answer, post_answer
from queries import shapes

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
    (shapes.Post, schemas.Post),
    (shapes.Thread, schemas.Thread),
    (shapes.Page[shapes.Post], schemas.Page[schemas.Post]),
    (shapes.Page[shapes.Account], schemas.Page[schemas.Account]),
    (shapes.NotificationGroup, schemas.NotificationGroup),
    (shapes.Page[shapes.NotificationGroup], schemas.Page[schemas.NotificationGroup]),
])
def test_each_response_model_declares_its_typed_shape(typed: Any, model: type[BaseModel]
                                                       ) -> None:
    assert plain(model.model_json_schema()) == typed_schema(typed)


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
ALICE = OwnAccountView(7, "alice", "Alice", "", "", MOMENT, "alice@example.com")


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
    assert list(shapes.page([post], None)) == ["items", "next_cursor"]
    assert list(shapes.thread([], [post])) == ["ancestors", "descendants"]


def test_account_and_post_from_the_write_side() -> None:
    author = account_answer(ALICE, {**account_answer(ALICE), "followers_count": 3})
    assert author == {"id": "7", "username": "alice", "display_name": "Alice", "bio": "",
                      "avatar_url": "", "created_at": "2026-11-24T10:00:00.123Z",
                      "followers_count": 3, "following_count": 0, "posts_count": 0}
    assert own_account_answer(ALICE) == {**account_answer(ALICE),
                                         "email": "alice@example.com"}
    root = PostView(11, 7, "hello", MOMENT, None, 12, ["bob"], ["roost"])
    post = post_answer(root, author, True)
    assert "reply_to_available" not in post  # docs/api.md: absent for a non-reply
    assert (post["id"], post["quote_of_id"], post["created_at"], post["liked"]) == (
        "11", "12", "2026-11-24T10:00:00.123Z", False)
    reply = post_answer(PostView(13, 7, "re", MOMENT, 11, None, [], []), author, False)
    assert (reply["reply_to_id"], reply["reply_to_available"]) == ("11", False)


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
    OwnAccountView: ["id", "username", "display_name", "bio", "avatar_url", "created_at",
                     "email"],
    AccountView: ["id", "username", "display_name", "bio", "avatar_url", "created_at"],
    PostView: ["id", "author_id", "text", "created_at", "reply_to_id", "quote_of_id",
               "mentions", "hashtags", "media"],
    RelationshipView: ["following", "followed_by", "blocking", "blocked_by", "muting"],
    InteractionView: ["post_id", "post", "author", "reply_to_available", "visible", "flag",
                      "value"],
}


def test_the_recorded_answers_keep_their_keys_and_read_back() -> None:
    post = PostView(11, 7, "hello", MOMENT, None, None, ["bob"], [])
    views: list[Any] = [
        ALICE, AccountView.from_answer(ALICE.as_answer()), post,
        RelationshipView(True, False, False, False, True),
        InteractionView(11, post, AccountView.from_answer(ALICE.as_answer()), None, True,
                        "liked", True),
        InteractionView(11, post, None, None, False, "reposted", False),
    ]
    for view in views:
        answer = view.as_answer()
        assert list(answer) == RECORDED_KEYS[type(view)]
        assert type(view).from_answer(answer) == view
    assert views[4].as_answer()["post"] == post.as_answer()
    assert "email" not in views[4].as_answer()["author"]
    # A post recorded before media existed has no "media" key: it reads back with none.
    older = {k: v for k, v in post.as_answer().items() if k != "media"}
    assert PostView.from_answer(older) == post and post.media == []
