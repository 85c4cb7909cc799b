"""Suspending an account on the write side (``commands.suspension``, ``commands.sessions``),
once on each event store: in memory with the fake revocation list, and on PostgreSQL
with Redis (``write_side`` in conftest)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate

from commands.admins import is_admin
from commands.bus import CommandBus
from commands.messages import (
    CreatePost,
    EraseAccount,
    Login,
    RefreshSession,
    SetAdmin,
    SetFollow,
    SetLike,
    SetRepost,
    SetSuspension,
)
from domain.errors import AccountSuspended, NotFound, Unauthorized, ValidationFailed
from domain.ids import account_uuid
from domain.sessions import Session
from infra.redis_clients import build_sync_redis
from infra.redis_keys import RedisKeys
from ports.event_store import EventStore, Forgotten
from tests.fakes.revocations import MemoryRevocations
from tests.integration.conftest import PASSWORD, WriteSide, signup


def suspended_mark(write_side: WriteSide, account_id: int) -> bool:
    """Whether the revocation list marks the account suspended (the fake's set, or the
    Redis key every request checks)."""
    revocations = write_side.bus.context.revocations
    if isinstance(revocations, MemoryRevocations):
        return account_id in revocations.suspended
    client = build_sync_redis(write_side.settings)
    try:
        key = RedisKeys(write_side.settings.redis_prefix).suspended_account(account_id)
        return bool(client.exists(key))
    finally:
        client.close()


def suspend(bus: CommandBus, username: str, reason: str = "spam") -> Any:
    return bus.handle(SetSuspension(username, True, "admin:1", reason))


def unsuspend(bus: CommandBus, username: str) -> Any:
    return bus.handle(SetSuspension(username, False, "admin:1"))


def test_a_suspension_ends_every_session_and_refuses_sign_in(write_side: WriteSide) -> None:
    bus = write_side.bus
    alice = signup(bus, "alice")
    second = bus.handle(Login(login="alice", password=PASSWORD)).data
    before = write_side.head()

    result = suspend(bus, "ALICE", reason="spam links\n(third report)")

    assert result.data == {"username": "alice", "account_id": alice.account_id,
                           "suspended": True, "changed": True, "sessions_ended": 2}
    assert write_side.event_types(before) == ["AccountSuspended", "SessionEnded",
                                              "SessionEnded"]
    assert result.position == write_side.store.position_of(account_uuid("alice"), 2)
    assert suspended_mark(write_side, alice.account_id)
    for session in (alice.session_id, str(second["refresh_token"]).split(".")[0]):
        left = write_side.revocation_ttl(session)
        assert left is not None and left > 0
    with pytest.raises(AccountSuspended) as caught:
        bus.handle(Login(login="alice", password=PASSWORD))
    assert (caught.value.status, caught.value.code) == (403, "account_suspended")
    with pytest.raises(Unauthorized):  # a wrong password tells nothing of the suspension
        bus.handle(Login(login="alice", password="wrong password!"))
    with pytest.raises(Unauthorized):  # the refresh tokens died with their sessions
        bus.handle(RefreshSession(refresh_token=str(second["refresh_token"])))
    stored = write_side.store.get_or_none(account_uuid("alice"))
    assert stored.suspension_reason == "spam links\n(third report)"


def test_suspending_again_appends_nothing_and_unsuspending_lets_it_sign_in_again(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    signup(bus, "alice")
    first = suspend(bus, "alice")
    head = write_side.head()

    again = suspend(bus, "alice", reason="another note")

    assert write_side.head() == head  # no event: idempotent
    assert (again.position, again.data["changed"], again.data["sessions_ended"]) == (
        first.position, False, 0)
    lifted = unsuspend(bus, "alice")
    assert lifted.data == {"username": "alice", "account_id": first.data["account_id"],
                           "suspended": False, "changed": True, "sessions_ended": 0}
    assert write_side.event_types(head) == ["AccountUnsuspended"]
    assert not suspended_mark(write_side, first.data["account_id"])
    assert "access_token" in bus.handle(Login(login="alice", password=PASSWORD)).data
    lifted_again = unsuspend(bus, "alice")
    assert not lifted_again.data["changed"] and lifted_again.position == lifted.position


def test_an_unknown_or_erased_account_is_404_and_a_bad_reason_422(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    signup(bus, "alice")
    with pytest.raises(NotFound):
        suspend(bus, "nobody")
    head = write_side.head()
    for reason in ("x" * 501, "bell\x07"):
        with pytest.raises(ValidationFailed) as caught:
            suspend(bus, "alice", reason=reason)
        assert "reason" in caught.value.details["fields"]
    assert write_side.head() == head


def test_a_suspended_account_cannot_be_followed_and_is_no_admin(write_side: WriteSide) -> None:
    bus = write_side.bus
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    bus.handle(SetFollow(bob, "alice", True))
    bus.handle(SetAdmin("alice", True, "cli:ops"))
    suspend(bus, "alice")

    with pytest.raises(AccountSuspended):
        bus.handle(SetFollow(bob, "alice", True))
    assert bus.handle(SetFollow(bob, "alice", False)).data["following"] is False
    assert not is_admin(write_side.store, "alice", alice.account_id)
    unsuspend(bus, "alice")
    assert is_admin(write_side.store, "alice", alice.account_id)


class SuspendsBeforeTheSessionIsSaved:
    """The event store, except that the first save of a ``Session`` first lets a
    moderator suspend the account (on the real store): a suspension that runs while a
    login is checking the password, and ends the sessions it finds before the login's
    session is saved."""

    def __init__(self, store: EventStore, moderator: CommandBus, username: str) -> None:
        self.store, self.moderator, self.username = store, moderator, username
        self.done = False

    def save_all(self, *aggregates: Aggregate | None) -> int:
        if not self.done and any(isinstance(a, Session) for a in aggregates):
            self.done = True
            suspend(self.moderator, self.username)
        return self.store.save_all(*aggregates)

    def get_or_none(self, aggregate_id: UUID) -> Any:
        return self.store.get_or_none(aggregate_id)

    def exists(self, aggregate_id: UUID) -> bool:
        return self.store.exists(aggregate_id)

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        return self.store.position_of(aggregate_id, version)

    def sessions_of(self, account_id: int) -> tuple[UUID, ...]:
        return self.store.sessions_of(account_id)

    def forget_account(self, account_aggregate_id: UUID, account_id: int) -> Forgotten:
        return self.store.forget_account(account_aggregate_id, account_id)


def test_a_login_racing_a_suspension_ends_its_own_session(write_side: WriteSide) -> None:
    """The login read the account before the suspension was saved; the suspension's
    look for sessions ran before the login's session was saved. The login looks at the
    account again once its session is saved, ends it and refuses."""
    bus = write_side.bus
    signup(bus, "alice")
    racing = SuspendsBeforeTheSessionIsSaved(write_side.store, bus, "alice")
    late = CommandBus(replace(bus.context, store=racing))

    with pytest.raises(AccountSuspended):
        late.handle(Login(login="alice", password=PASSWORD))

    assert racing.done
    account_id = write_side.store.get_or_none(account_uuid("alice")).account_id
    sessions = [write_side.store.get_or_none(i)
                for i in write_side.store.sessions_of(account_id)]
    assert len(sessions) == 2 and all(s.ended for s in sessions)
    for session in sessions:
        assert write_side.revocation_ttl(session.id.hex) is not None


def test_sessions_of_finds_only_that_accounts_sessions(write_side: WriteSide) -> None:
    bus = write_side.bus
    alice = signup(bus, "alice")
    signup(bus, "bob")
    bus.handle(Login(login="alice", password=PASSWORD))
    found = write_side.store.sessions_of(alice.account_id)
    assert len(found) == 2 and found[0].hex == alice.session_id
    assert all(write_side.store.get_or_none(i).account_id == alice.account_id for i in found)
    assert write_side.store.sessions_of(12345) == ()


def test_a_suspended_accounts_posts_take_no_likes_reposts_replies_or_quotes(
        write_side: WriteSide) -> None:
    """Nobody sees them, so nobody may act on them by id either (as on a deleted post);
    undoing one's own like still works; all of it comes back with the unsuspension."""
    bus = write_side.bus
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    post = int(bus.handle(CreatePost(actor=alice, text="soon hidden")).data["id"])
    bus.handle(SetLike(actor=bob, post_id=post, active=True))
    suspend(bus, "alice")
    before = write_side.head()
    for refused in (SetLike(actor=bob, post_id=post, active=True),
                    SetRepost(actor=bob, post_id=post, active=True)):
        with pytest.raises(NotFound) as caught:
            bus.handle(refused)
        assert caught.value.code == "post_not_found"
    for referring in (CreatePost(actor=bob, text="a reply", reply_to_id=post),
                      CreatePost(actor=bob, text="a quote", quote_of_id=post)):
        with pytest.raises(ValidationFailed) as invalid:
            bus.handle(referring)
        assert invalid.value.code == "reference_not_found"
    assert write_side.head() == before  # nothing appended
    assert bus.handle(SetLike(actor=bob, post_id=post, active=False)).position > before
    unsuspend(bus, "alice")
    assert bus.handle(SetRepost(actor=bob, post_id=post, active=True)).position > 0
    assert bus.handle(CreatePost(actor=bob, text="a reply", reply_to_id=post)).position > 0


def test_an_admin_cannot_suspend_or_erase_their_own_account(write_side: WriteSide) -> None:
    """An admin locking themselves out over HTTP needs an operator to undo it; the
    CLI (``cli:<login>``) still can."""
    bus = write_side.bus
    admin = signup(bus, "moderator")
    before = write_side.head()
    with pytest.raises(ValidationFailed) as suspended:
        bus.handle(SetSuspension("moderator", True, f"admin:{admin.account_id}", "oops"))
    assert suspended.value.code == "cannot_suspend_self"
    with pytest.raises(ValidationFailed) as erased:
        bus.handle(EraseAccount(username="moderator", requested_by=f"admin:{admin.account_id}"))
    assert erased.value.code == "cannot_erase_self"
    assert write_side.head() == before
    assert bus.handle(SetSuspension("moderator", True, "cli:operator", "by the operator")
                      ).data["changed"]


class RedisDown(MemoryRevocations):
    """A revocation list whose every write fails, as Redis down."""

    def revoke(self, session_id: str, ttl_s: int) -> None:
        raise ConnectionError("Redis is down")

    def set_account_suspended(self, account_id: int, suspended: bool) -> None:
        raise ConnectionError("Redis is down")


def test_with_redis_down_a_suspension_still_ends_the_sessions_and_a_rerun_completes(
        write_side: WriteSide) -> None:
    """The event store first: the sessions end (the refresh tokens die) even when the
    Redis mark cannot be set; running the command again sets it."""
    bus = write_side.bus
    signup(bus, "alice")
    second = bus.handle(Login(login="alice", password=PASSWORD)).data
    down = CommandBus(replace(bus.context, revocations=RedisDown()))
    with pytest.raises(ConnectionError):
        down.handle(SetSuspension("alice", True, "admin:1", "spam"))
    with pytest.raises(Unauthorized):
        bus.handle(RefreshSession(refresh_token=str(second["refresh_token"])))
    again = suspend(bus, "alice")
    assert again.data["changed"] is False and again.data["sessions_ended"] == 0
    assert suspended_mark(write_side, write_side.store.get_or_none(
        account_uuid("alice")).account_id)
