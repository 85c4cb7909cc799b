"""Erasure in the PostgreSQL event store: events stored before sealing existed
(plain JSON, the version-1 shape) still load, and erasing their account rewrites
those rows -- and the Idempotency-Key answers that show it -- while a sealed
account's rows stay as they are, unreadable once its key is a tombstone."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import Mapper

from commands.views import own_profile_view, post_view
from domain.accounts import Account, EmailClaim
from domain.idempotency import IdempotencyRecord
from domain.ids import email_claim_uuid
from domain.posts import Post
from domain.sessions import Session
from infra.event_store import PostgresEventStore
from infra.personal_data import erased_username
from infra.settings import Settings


class PlainPostgresEventStore(PostgresEventStore):
    """The store as it was before sealing: eventsourcing's mapper."""

    name = "Roost"

    def construct_mapper(self) -> Mapper[UUID]:
        return Mapper(transcoder=self.construct_transcoder())

    def __init__(self, settings: Settings) -> None:
        super(PostgresEventStore, self).__init__(env=settings.eventsourcing_env())


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[PostgresEventStore, PlainPostgresEventStore]]:
    store, old = PostgresEventStore(settings), PlainPostgresEventStore(settings)
    yield store, old
    store.close()
    old.close()


def _raw(settings: Settings, aggregate: UUID | None = None) -> bytes:
    """The stored bytes of every event (of ``aggregate``'s only)."""
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute("SELECT state FROM roost_events WHERE %(a)s::text IS NULL "
                            "OR originator_id::text = %(a)s::text ORDER BY notification_id",
                            {"a": None if aggregate is None else str(aggregate)})
        return b"\n".join(bytes(r[0]) for r in rows.fetchall())


def _history(username: str, account_id: int) -> tuple[Account, Post, Session, IdempotencyRecord]:
    account = Account(account_id=account_id, username=username,
                      email=f"{username}@example.org", password_hash="h",
                      display_name=f"{username} Display")
    account.update_profile(display_name=f"{username} Display", bio=f"{username} bio",
                           avatar_url="")
    post = Post(post_id=account_id * 10, author_id=account_id, author_username=username,
                text=f"{username} wrote this", mentions=[], hashtags=[], reply_to_id=None,
                quote_of_id=None)
    answer = {"account": own_profile_view(account),
              "post": post_view(post)}
    record = IdempotencyRecord(record_id=uuid4(), fingerprint="f", answer=answer, position=None)
    return account, post, Session(account_id=account_id, username=username,
                                  refresh_hash="r"), record


def test_plain_rows_load_and_erasure_rewrites_only_the_erased_account_s(
        settings: Settings, stores: tuple[PostgresEventStore, PlainPostgresEventStore]) -> None:
    store, old = stores
    alice = _history("Alice", 1)
    bob = _history("Bobby", 2)
    old.save_all(*alice, EmailClaim(email="Alice@example.org", account_id=1,
                                    username="Alice"))
    store.save_all(*bob)  # bob is sealed
    assert b"Alice wrote this" in _raw(settings, alice[1].id)
    assert b"Bobby wrote this" not in _raw(settings, bob[1].id)  # sealed
    assert b"Bobby wrote this" in _raw(settings, bob[3].id)  # an answer: plain until erased
    assert store.get_or_none(alice[1].id).text == "Alice wrote this"  # version-1 shape loads

    forgotten = store.forget_account(alice[0].id, 1)
    assert forgotten.rows_rewritten == 6  # 2 account events, claim, post, session, answer
    assert forgotten.session_ids == (alice[2].id,)
    raw = _raw(settings)
    for gone in (b"Alice wrote this", b"Alice Display", b"Alice bio", b"Alice@example.org",
                 b"Alice@", b"\"Alice\""):
        assert gone not in raw, gone
    loaded = store.get_or_none(alice[0].id)
    assert (loaded.username, loaded.email, loaded.bio) == (
        erased_username(alice[0].id.hex), "", "")
    assert store.get_or_none(alice[1].id).text == ""
    assert store.get_or_none(alice[3].id).answer["post"]["text"] == ""
    # bob's rows, sealed and not erased, read as before
    assert store.get_or_none(bob[1].id).text == "Bobby wrote this"
    assert store.get_or_none(bob[3].id).answer["account"]["display_name"] == "Bobby Display"
    # again (a run that stopped before ending the sessions): nothing left to rewrite, and
    # the sessions are still found
    # (and so is her email claim, by its rewritten rows' owner: erasure releases it)
    assert store.forget_account(alice[0].id, 1) == (0, (alice[2].id,),
                                                    (email_claim_uuid("Alice@example.org"),))


def test_a_sealed_account_erased_reads_as_placeholders_in_every_process(
        settings: Settings, stores: tuple[PostgresEventStore, PlainPostgresEventStore]) -> None:
    store, _ = stores
    account, post, _, _ = _history("Carol", 3)
    store.save_all(account, post)
    other = PostgresEventStore(settings)  # another process, its key cache warm
    try:
        assert other.get_or_none(post.id).text == "Carol wrote this"
        assert store.forget_account(account.id, 3).rows_rewritten == 0  # nothing plain
        fresh = PostgresEventStore(settings)
        try:
            assert fresh.get_or_none(post.id).text == ""
            assert fresh.get_or_none(account.id).username == erased_username(account.id.hex)
        finally:
            fresh.close()
    finally:
        other.close()
    with psycopg.connect(settings.postgres_conninfo) as conn:
        row = conn.execute("SELECT data_key, erased_at FROM account_keys WHERE account_id = %s",
                           (account.id,)).fetchone()
    assert row is not None and row[0] is None and row[1] is not None
