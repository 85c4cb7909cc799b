"""Event schema versions, upcasters and former topics, on the in-memory event store.

Events "stored before the change" are written as raw rows in the shape the code
of that time wrote (``PostCreated`` v1: no ``language``, no ``class_version``; v2:
``language`` but no ``media_ids``),
then loaded as aggregates and read as envelopes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from commands.admins import is_admin
from commands.bus import CommandBus
from commands.messages import EraseAccount, SetAdmin
from domain.accounts import Account
from domain.errors import NotFound
from domain.ids import account_uuid, post_uuid
from domain.posts import Post, UnknownLanguage, language_tag
from domain.topic_history import former_topics, register_former_topic
from infra.bootstrap import build_command_bus
from infra.event_store import MemoryEventStore
from infra.event_types import known_event_types, topics_of_types
from infra.eventlog import UNDECODABLE_TYPE, decode_record, envelope_from_record
from infra.serialization import build_transcoder
from tests.conftest import make_settings
from tests.fakes.revocations import MemoryRevocations

POST_TOPIC = "domain.posts:Post.PostCreated"
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def v1_post_state(post_id: int, **extra: Any) -> bytes:
    """A ``PostCreated`` as stored before ``language`` existed (schema version 1)."""
    return build_transcoder().encode({
        "timestamp": WHEN, "originator_topic": "domain.posts:Post", "post_id": post_id,
        "author_id": 7, "author_username": "alice", "text": "old post", "mentions": [],
        "hashtags": ["old"], "reply_to_id": None, "quote_of_id": None, **extra})


def v2_post_state(post_id: int, **extra: Any) -> bytes:
    """A ``PostCreated`` as stored before ``media_ids`` existed (schema version 2)."""
    return build_transcoder().encode({
        "timestamp": WHEN, "originator_topic": "domain.posts:Post", "post_id": post_id,
        "author_id": 7, "author_username": "alice", "text": "v2 post", "mentions": [],
        "hashtags": [], "reply_to_id": None, "quote_of_id": None, "language": "de",
        "class_version": 2, **extra})


def store_raw(store: MemoryEventStore, aggregate_id: uuid.UUID, topic: str, state: bytes
              ) -> int:
    """Insert one stored event as it is, bypassing the domain; its position."""
    recorded = store.recorder.insert_events([StoredEvent(aggregate_id, 1, topic, state)])
    assert recorded
    return int(recorded[-1])


def test_an_old_post_loads_with_no_language() -> None:
    store = MemoryEventStore()
    store_raw(store, post_uuid(11), POST_TOPIC, v1_post_state(11))
    post = store.get_or_none(post_uuid(11))
    assert isinstance(post, Post)
    assert (post.text, post.hashtags, post.language) == ("old post", ["old"], None)
    assert post.media_ids == []


def test_a_v2_post_loads_with_its_language_and_no_media() -> None:
    store = MemoryEventStore()
    store_raw(store, post_uuid(16), POST_TOPIC, v2_post_state(16))
    post = store.get_or_none(post_uuid(16))
    assert isinstance(post, Post)
    assert (post.text, post.language, post.media_ids) == ("v2 post", "de", [])
    envelope = envelope_from_record(6, post_uuid(16), 1, POST_TOPIC, v2_post_state(16))
    assert (envelope.type, envelope.schema_version) == ("PostCreated", 3)
    assert (envelope.payload["language"], envelope.payload["media_ids"]) == ("de", [])
    assert "class_version" not in envelope.payload


def test_an_old_post_is_published_upcast_to_the_current_shape() -> None:
    envelope = envelope_from_record(5, post_uuid(11), 1, POST_TOPIC, v1_post_state(11))
    assert envelope.type == "PostCreated"
    assert envelope.schema_version == 3
    assert envelope.payload["language"] is None
    assert envelope.payload["media_ids"] == []
    assert envelope.payload["text"] == "old post"
    assert envelope.occurred_at == "2026-01-02T03:04:05.678Z"


def test_a_new_post_is_stored_at_version_3_with_its_language_and_media() -> None:
    store = MemoryEventStore()
    post = Post(post_id=12, author_id=7, author_username="alice", text="olá", mentions=[],
                hashtags=[], reply_to_id=None, quote_of_id=None, language="pt-BR",
                media_ids=[41, 42])
    store.save_all(post)
    stored = store.recorder.select_events(post_uuid(12))[0]
    state = orjson.loads(stored.state)
    assert stored.topic == POST_TOPIC  # the explicit class kept the topic of v1
    assert state["class_version"] == 3 and state["language"] == "pt-BR"
    assert state["media_ids"] == [41, 42]
    loaded = store.get_or_none(post_uuid(12))
    assert (loaded.language, loaded.media_ids) == ("pt-BR", [41, 42])
    envelope = envelope_from_record(1, stored.originator_id, 1, stored.topic, stored.state)
    assert (envelope.schema_version, envelope.payload["language"],
            envelope.payload["media_ids"]) == (3, "pt-BR", [41, 42])
    assert "class_version" not in envelope.payload


def test_a_version_without_its_upcaster_is_undecodable_not_a_crash() -> None:
    future = build_transcoder().encode({"timestamp": WHEN, "class_version": 0})
    envelope = decode_record(3, post_uuid(13), 1, POST_TOPIC, future)
    assert envelope.type == UNDECODABLE_TYPE  # there is no upcast_v0_v1


def test_a_renamed_class_still_loads_its_events_stored_under_the_old_topic() -> None:
    old_topic = f"domain.posts:Post.PostWritten{uuid.uuid4().hex[:8]}"  # never a real name
    register_former_topic(old_topic, Post.PostCreated)
    register_former_topic(old_topic, Post.PostCreated)  # idempotent
    assert former_topics()[old_topic] is Post.PostCreated
    store = MemoryEventStore()
    store_raw(store, post_uuid(14), old_topic, v1_post_state(14))
    post = store.get_or_none(post_uuid(14))
    assert isinstance(post, Post) and post.post_id == 14 and post.language is None
    envelope = envelope_from_record(1, post_uuid(14), 1, old_topic, v1_post_state(14))
    assert (envelope.type, envelope.schema_version) == ("PostCreated", 3)
    assert old_topic in topics_of_types({"PostCreated"})  # type filters find it too
    assert POST_TOPIC in topics_of_types({"PostCreated"})


def test_an_unknown_topic_keeps_its_last_name_and_stored_version() -> None:
    envelope = envelope_from_record(
        1, post_uuid(15), 1, "elsewhere:Thing.Happened",
        build_transcoder().encode({"timestamp": WHEN, "class_version": 3, "x": 1}))
    assert (envelope.type, envelope.schema_version, envelope.payload) == ("Happened", 3,
                                                                          {"x": 1})


def test_the_admin_events_are_known_types() -> None:
    assert {"AdminGranted", "AdminRevoked", "PostCreated"} <= known_event_types()


@pytest.mark.parametrize(("tag", "canonical"), [
    ("en", "en"), ("EN-us", "en-US"), ("zh-Hant-TW", "zh-Hant-TW"), ("pt-BR", "pt-BR"),
    ("x-private", "x-private"), ("de-CH-1901", "de-CH-1901"),
])
def test_language_tags_are_kept_in_their_canonical_case(tag: str, canonical: str) -> None:
    assert language_tag(tag) == canonical


@pytest.mark.parametrize("tag", ["", "en_US", "en-", "-en", "e n", "a" * 40,
                                 "en-US-" + "x" * 9, "ençe", "en\u0000"])
def test_malformed_language_tags_are_refused(tag: str) -> None:
    with pytest.raises(ValueError) as refused:
        language_tag(tag)
    assert not isinstance(refused.value, UnknownLanguage)


@pytest.mark.parametrize("tag", ["xx", "zz-ZZ", "en-QQ1", "english"])
def test_well_formed_but_unregistered_tags_are_unknown(tag: str) -> None:
    with pytest.raises(UnknownLanguage):
        language_tag(tag)


def alice_saved(username: str) -> tuple[MemoryEventStore, CommandBus]:
    """A command bus on a store that holds the account ``username`` (id 7)."""
    store = MemoryEventStore()
    bus = build_command_bus(make_settings(), store=store, revocations=MemoryRevocations())
    store.save_all(Account(account_id=7, username=username, email="a@example.org",
                           password_hash="h", display_name=""))
    return store, bus


def test_the_admin_role_is_granted_and_revoked_once_each() -> None:
    store, bus = alice_saved("Alice")
    assert not is_admin(store, "alice")
    granted = bus.handle(SetAdmin("ALICE", True, "cli:ops"))
    assert granted.data == {"username": "Alice", "account_id": 7, "is_admin": True}
    assert is_admin(store, "alice")
    again = bus.handle(SetAdmin("alice", True, "cli:ops"))
    assert again.position == granted.position  # nothing appended
    revoked = bus.handle(SetAdmin("alice", False, "cli:ops"))
    assert revoked.position > granted.position and not is_admin(store, "alice")
    events = store.recorder.select_events(account_uuid("alice"))
    assert [e.topic.rsplit(".", 1)[-1] for e in events] == [
        "AccountRegistered", "AdminGranted", "AdminRevoked"]
    envelope = envelope_from_record(2, events[1].originator_id, 2, events[1].topic,
                                    events[1].state)
    assert envelope.payload == {"account_id": 7, "by": "cli:ops"}
    with pytest.raises(NotFound):
        bus.handle(SetAdmin("nobody", True, "cli:ops"))


def test_an_erased_account_is_no_admin_and_cannot_become_one() -> None:
    store, bus = alice_saved("alice")
    bus.handle(SetAdmin("alice", True, "cli:ops"))
    bus.handle(EraseAccount(username="alice", requested_by="operator"))
    assert not is_admin(store, "alice", 7)
    with pytest.raises(NotFound):
        bus.handle(SetAdmin("alice", True, "cli:ops"))
    revoked = bus.handle(SetAdmin("alice", False, "cli:ops"))  # taking it away still works
    assert revoked.data["is_admin"] is False
