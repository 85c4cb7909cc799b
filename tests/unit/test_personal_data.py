"""Sealing personal fields (``infra.personal_data``): any payload round-trips through
the mapper and the event log; once the key is destroyed nothing raises and every
sealed field reads as its placeholder; plain (pre-sealing) rows load as they are
and erasure rewrites them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.messages import EraseAccount, Login, RegisterAccount
from commands.views import media_view, own_profile_view, post_view
from domain.accounts import Account, EmailClaim
from domain.errors import AccountErased, NotFound, Unauthorized
from domain.idempotency import IdempotencyRecord
from domain.ids import account_uuid
from domain.media import Media
from domain.posts import Post
from domain.sessions import Session
from infra.event_store import MemoryEventStore
from infra.eventlog import envelope_from_record
from infra.personal_data import (
    SEALED,
    MemoryKeyRing,
    SealingMapper,
    erased_username,
    scrub_row,
    seal,
    unseal,
)
from infra.serialization import build_transcoder

texts = st.text(max_size=300)


def _post(author: str, text: str, mentions: list[str], hashtags: list[str]) -> Post:
    return Post(post_id=7, author_id=1, author_username=author, text=text, mentions=mentions,
                hashtags=hashtags, reply_to_id=None, quote_of_id=None)


@settings(max_examples=150, deadline=None)
@given(text=texts, mentions=st.lists(texts, max_size=4), hashtags=st.lists(texts, max_size=4),
       display=texts, bio=texts, email=texts)
def test_any_payload_round_trips_and_never_raises_once_the_key_is_gone(
        text: str, mentions: list[str], hashtags: list[str], display: str, bio: str,
        email: str) -> None:
    keys = MemoryKeyRing()
    mapper = SealingMapper(build_transcoder(), keys)
    account = Account(account_id=1, username="alice", email=email, password_hash="h",
                      display_name=display)
    account.update_profile(display_name=display, bio=bio, avatar_url="")
    post = _post("alice", text, mentions, hashtags)
    events = [*account.collect_events(), *post.collect_events()]
    stored = [mapper.to_stored_event(e) for e in events]
    for event, row in zip(events, stored, strict=True):
        assert mapper.to_domain_event(row).__dict__ == event.__dict__
        fields = SEALED[row.topic].fields
        # the row's JSON with its sealed values blanked: their keys stay (a personal
        # value equal to a key name, "hashtags", is found in every row)
        skeleton = orjson.dumps({k: None if k in fields else v
                                 for k, v in orjson.loads(row.state).items()})
        for field in fields:  # no personal value in the row's bytes (beyond its skeleton)
            needle = orjson.dumps(getattr(event, field))[1:-1]
            if len(needle) > 3 and needle not in skeleton:
                assert needle not in row.state
        envelope = envelope_from_record(1, row.originator_id, row.originator_version,
                                        row.topic, row.state,
                                        keys.keys([account.id.hex]))
        assert envelope.payload.get("text", text) == text
    keys.destroy(account.id.hex)
    for row in stored:
        loaded = mapper.to_domain_event(row)
        envelope = envelope_from_record(1, row.originator_id, row.originator_version,
                                        row.topic, row.state)
        for field in SEALED[row.topic].fields:
            assert getattr(loaded, field) in ("", [], erased_username(account.id.hex))
            if field in envelope.payload:
                assert envelope.payload[field] == getattr(loaded, field)


@given(value=st.recursive(st.none() | st.booleans() | st.integers(-2**53, 2**53) | texts,
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(texts, inner, max_size=3), max_leaves=10))
def test_a_sealed_value_opens_only_where_it_was_sealed(value: Any) -> None:
    key, key_id = b"k" * 32, uuid4().hex
    sealed = seal(key, key_id, "o", 3, "text", value)
    assert unseal({key_id: key}, "o", 3, "text", sealed) == value
    # Moved to another row or field, or damaged: the placeholder, never an error.
    assert unseal({key_id: key}, "o", 4, "text", sealed) == ""
    assert unseal({key_id: key}, "o", 3, "bio", sealed) == ""
    assert unseal({key_id: key}, "o", 3, "username", {**sealed, "v": "%%"}) == \
        erased_username(key_id)


def test_rows_stored_in_plain_json_load_and_erasure_rewrites_them() -> None:
    """A version-1 row (stored before sealing) loads as it is; ``scrub_row`` replaces
    its personal fields, and leaves other accounts' rows alone."""
    account_id = account_uuid("alice")
    state = orjson.dumps({"account_id": 1, "username": "alice", "email": "a@example.org",
                          "password_hash": "h", "display_name": "Alice A",
                          "originator_topic": "domain.accounts:Account"})
    topic = "domain.accounts:Account.AccountRegistered"
    envelope = envelope_from_record(1, account_id, 1, topic, state)
    assert envelope.payload["display_name"] == "Alice A"
    scrubbed = scrub_row(topic, str(account_id), state, account_id.hex, 1)
    assert scrubbed.owned and scrubbed.state is not None
    assert b"Alice" not in scrubbed.state and b"a@example.org" not in scrubbed.state
    assert orjson.loads(scrubbed.state)["username"] == erased_username(account_id.hex)
    other = scrub_row(topic, str(account_uuid("bob")), state.replace(b"alice", b"bob"),
                      account_id.hex, 1)
    assert other.state is None and not other.owned


def test_erasure_on_the_memory_store_forgets_sealed_and_recorded_answers() -> None:
    store = MemoryEventStore()
    account = Account(account_id=11, username="Alice", email="a@example.org",
                      password_hash="h", display_name="Alice A")
    claim = EmailClaim(email="a@example.org", account_id=11, username="Alice")
    session = Session(account_id=11, username="Alice", refresh_hash="r")
    answer = dict(own_profile_view(account))
    record = IdempotencyRecord(record_id=uuid4(), fingerprint="f", answer=answer, position=None)
    store.save_all(account, claim, session, record)
    rows_before = [r.state for r in store.recorder._stored_events]  # type: ignore[attr-defined]
    assert any(b"Alice A" in state for state in rows_before)  # the recorded answer

    forgotten = store.forget_account(account.id, 11)
    assert forgotten.rows_rewritten == 1 and forgotten.session_ids == (session.id,)
    rows = [r.state for r in store.recorder._stored_events]  # type: ignore[attr-defined]
    assert not any(b"Alice" in s or b"a@example.org" in s for s in rows)
    loaded = store.get_or_none(account.id)
    assert (loaded.username, loaded.display_name, loaded.email) == (
        erased_username(account.id.hex), "", "")
    assert store.get_or_none(record.id).answer["display_name"] == ""
    with pytest.raises(AccountErased):  # nothing personal is written for it again
        store.save_all(_post("Alice", "again", [], []))


def test_the_handler_erases_once_and_refuses_what_follows() -> None:
    from infra.bootstrap import build_command_bus
    from infra.settings import Settings
    from tests.fakes.revocations import MemoryRevocations

    revocations = MemoryRevocations()
    bus = build_command_bus(Settings(), store=MemoryEventStore(), revocations=revocations)
    bus.handle(RegisterAccount("alice", "a@example.org", "correct horse battery", "Al"))
    bus.handle(Login("alice", "correct horse battery"))
    first = bus.handle(EraseAccount("ALICE", "operator"))
    assert first.data["already_erased"] is False and first.data["sessions_ended"] == 1
    assert revocations.expiries  # the session's access tokens stop working
    again = bus.handle(EraseAccount("alice", "operator"))
    assert again.data["already_erased"] is True and again.position == first.position
    with pytest.raises(Unauthorized):
        bus.handle(Login("alice", "correct horse battery"))
    with pytest.raises(Unauthorized):
        bus.handle(Login("a@example.org", "correct horse battery"))
    with pytest.raises(NotFound):
        bus.handle(EraseAccount("nobody", "operator"))


def _medium(media_id: int, owner_id: int, owner: str, description: str) -> Media:
    variant = {"key": f"{media_id:02d}/00/{media_id}.jpg", "content_type": "image/jpeg",
               "width": 4, "height": 3, "bytes": 9}
    return Media(media_id=media_id, owner_id=owner_id, owner_username=owner,
                 description=description, blurhash="h", original=variant, small=dict(variant))


def test_media_alt_text_is_sealed_and_forgotten_with_its_owner() -> None:
    """Both events that carry a description seal it (and the owner's name) with the
    owner's key; the recorded answers that show it (an upload's, a post's ``media``)
    are plain copies that erasure scrubs. Erased: the medium reads with no
    description and is gone; another owner's medium is untouched."""
    store = MemoryEventStore()
    alice = Account(account_id=11, username="Alice", email="a@example.org",
                    password_hash="h", display_name="Alice A")
    medium = _medium(21, 11, "Alice", "a red kite over the dunes")
    medium.describe(media_id=21, owner_username="Alice", description="a red kite, flying")
    post = Post(post_id=7, author_id=11, author_username="Alice", text="look", mentions=[],
                hashtags=[], reply_to_id=None, quote_of_id=None, media_ids=[21])
    medium.attach(media_id=21, post_id=7, owner_id=11)
    bobs = _medium(22, 12, "bob", "a blue kite of bob")
    records = [IdempotencyRecord(record_id=uuid4(), fingerprint="f", answer=dict(answer),
                                 position=None)
               for answer in (media_view(medium), post_view(post, [medium]))]
    store.save_all(alice, medium, post, bobs, *records)
    rows = store.recorder._stored_events  # type: ignore[attr-defined]
    media_rows = [r for r in rows if r.topic.startswith("domain.media:")]
    assert {"domain.media:Media.MediaUploaded", "domain.media:Media.MediaDescribed"} <= \
        {r.topic for r in media_rows} <= set(SEALED) | {"domain.media:Media.MediaAttached"}
    assert not any(b"kite" in r.state or b"Alice" in r.state for r in media_rows)
    assert sum(b"red kite" in r.state for r in rows) == 2  # the two recorded answers

    forgotten = store.forget_account(alice.id, 11)
    assert forgotten.rows_rewritten == 2
    rows = store.recorder._stored_events  # type: ignore[attr-defined]
    assert not any(b"red kite" in r.state for r in rows)
    loaded: Media = store.get_or_none(medium.id)
    assert (loaded.description, loaded.owner_username) == ("", erased_username(alice.id.hex))
    assert loaded.post_id == 7 and loaded.gone(datetime.now(UTC))
    other: Media = store.get_or_none(bobs.id)
    assert other.description == "a blue kite of bob" and not other.gone(datetime.now(UTC))
    answers = [store.get_or_none(r.id).answer for r in records]
    assert answers[0]["description"] == "" and answers[1]["media"][0]["description"] == ""
    assert answers[1]["text"] == ""
    with pytest.raises(AccountErased):  # no alt text is written for her again
        store.save_all(_medium(23, 11, "Alice", "again"))
