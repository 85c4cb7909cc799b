"""Command handlers through the composition root, once on each event store: in memory
(eventsourcing's POPO recorder, a fake revocation list: no server) and on PostgreSQL
(with Redis), as the API builds it (``write_side`` in conftest)."""

from __future__ import annotations

from uuid import UUID

import pytest

from commands.bus import CommandBus
from commands.messages import (
    Actor,
    CreatePost,
    DeletePost,
    Login,
    Logout,
    MarkNotificationsRead,
    RefreshSession,
    RegisterAccount,
    SetFollow,
    UpdateNotificationPreferences,
    UpdateProfile,
)
from domain.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from domain.ids import account_uuid, email_claim_uuid, follow_uuid, post_uuid
from tests.integration.conftest import PASSWORD, WriteSide, signup


@pytest.fixture
def bus(write_side: WriteSide) -> CommandBus:
    """Every test of this module runs once per event store."""
    return write_side.bus


# --- sign-up ------------------------------------------------------------------------


def test_register_appends_account_and_email_claim_in_one_go(
    bus: CommandBus, write_side: WriteSide
) -> None:
    result = bus.handle(RegisterAccount(username="Alice", email="Alice@Example.COM",
                                        password=PASSWORD, display_name="Alice A"))
    assert result.position == write_side.head() > 0
    assert write_side.event_types() == ["AccountRegistered", "EmailClaimed"]
    data = result.data
    assert (data["username"], data["email"], data["display_name"]) == (
        "Alice", "Alice@example.com", "Alice A")
    assert isinstance(data["id"], int) and 0 < data["id"] < 2**63
    assert "password" not in str(data) and "password_hash" not in data


def test_duplicate_username_in_any_case_is_409_username_taken(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="Alice", email="a1@example.com", password=PASSWORD))
    before = write_side.head()
    for again in ("alice", "ALICE", "aLiCe", "Alice"):
        with pytest.raises(Conflict) as caught:
            bus.handle(RegisterAccount(username=again, email="other@example.com",
                                       password=PASSWORD))
        assert (caught.value.status, caught.value.code) == (409, "username_taken")
        assert caught.value.details == {"field": "username"}
    assert write_side.head() == before


def test_duplicate_email_in_any_case_is_409_email_taken(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="alice", email="a1@example.com", password=PASSWORD))
    before = write_side.head()
    for again in ("a1@example.com", "A1@EXAMPLE.COM", "a1@Example.com"):
        with pytest.raises(Conflict) as caught:
            bus.handle(RegisterAccount(username="bob", email=again, password=PASSWORD))
        assert (caught.value.status, caught.value.code) == (409, "email_taken")
        assert caught.value.details == {"field": "email"}
    assert write_side.head() == before
    # bob is still free: nothing of the failed sign-ups was kept
    bus.handle(RegisterAccount(username="bob", email="b@example.com", password=PASSWORD))


def test_validation_errors_name_every_bad_field_and_append_nothing(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="alice", email="a@example.com", password=PASSWORD))
    before = write_side.head()
    with pytest.raises(ValidationFailed) as caught:
        bus.handle(RegisterAccount(username="no spaces!", email="not-an-email",
                                   password="short", display_name="x" * 51))
    error = caught.value
    assert (error.status, error.code) == (422, "validation_failed")
    assert set(error.details["fields"]) == {"username", "email", "password", "display_name"}
    assert all(isinstance(reason, str) and reason for reason in error.details["fields"].values())
    assert write_side.head() == before


def test_single_bad_field_is_named_alone(bus: CommandBus, write_side: WriteSide) -> None:
    cases = [
        ("me", "m@example.com", PASSWORD, "username"),
        ("a" * 31, "m@example.com", PASSWORD, "username"),
        ("", "m@example.com", PASSWORD, "username"),
        ("fine", "m@", PASSWORD, "email"),
        ("fine", "m@example.com", "x" * 1025, "password"),
    ]
    for username, email, password, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            bus.handle(RegisterAccount(username=username, email=email, password=password))
        assert list(caught.value.details["fields"]) == [field]
    assert write_side.head() == 0


def test_validation_is_checked_before_uniqueness(bus: CommandBus, write_side: WriteSide) -> None:
    bus.handle(RegisterAccount(username="alice", email="a@example.com", password=PASSWORD))
    with pytest.raises(ValidationFailed) as caught:
        bus.handle(RegisterAccount(username="ALICE", email="a@example.com", password="short"))
    assert list(caught.value.details["fields"]) == ["password"]


# --- sessions -------------------------------------------------------------------------


def test_login_by_username_in_any_case_or_by_email(bus: CommandBus) -> None:
    bus.handle(RegisterAccount(username="Alice", email="alice@example.com", password=PASSWORD))
    # Surrounding whitespace (a pasted or autofilled login) is trimmed on both paths.
    for login in ("Alice", "alice", "ALICE", "alice@example.com", "ALICE@example.com",
                  " alice", "alice\t", "\u00a0Alice\n", " alice@example.com "):
        tokens = bus.handle(Login(login=login, password=PASSWORD)).data
        assert tokens["token_type"] == "bearer"
        assert tokens["access_token"] and tokens["refresh_token"]
        assert isinstance(tokens["expires_in"], int) and tokens["expires_in"] > 0


def test_failed_login_is_invalid_credentials_whatever_the_reason(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    before = write_side.head()
    cases = [("alice", "wrong password"), ("nobody", PASSWORD), ("nobody@example.com", PASSWORD),
             ("", PASSWORD), ("x" * 300, PASSWORD), ("alice", ""), ("alice", PASSWORD.upper())]
    for login, password in cases:
        with pytest.raises(Unauthorized) as caught:
            bus.handle(Login(login=login, password=password))
        assert (caught.value.status, caught.value.code) == (401, "invalid_credentials")
    assert write_side.head() == before


def test_refresh_rotates_and_the_old_refresh_token_stops_working(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    first = bus.handle(Login(login="alice", password=PASSWORD)).data
    rotated = bus.handle(RefreshSession(refresh_token=str(first["refresh_token"])))
    second = rotated.data
    assert rotated.position == write_side.head()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    # same session, new secret
    assert str(second["refresh_token"]).split(".")[0] == str(first["refresh_token"]).split(".")[0]
    third = bus.handle(RefreshSession(refresh_token=str(second["refresh_token"]))).data
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def _session_revoked(write_side: WriteSide, refresh_token: object) -> bool:
    session_hex = str(refresh_token).split(".", 1)[0]
    return write_side.revocation_ttl(session_hex) is not None


def test_reusing_a_rotated_refresh_token_ends_the_whole_session(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    first = bus.handle(Login(login="alice", password=PASSWORD)).data  # A
    second = bus.handle(RefreshSession(refresh_token=str(first["refresh_token"]))).data  # B
    assert not _session_revoked(write_side, first["refresh_token"])
    with pytest.raises(Unauthorized) as caught:  # A again: someone holds a copy
        bus.handle(RefreshSession(refresh_token=str(first["refresh_token"])))
    assert caught.value.code == "invalid_refresh_token"
    assert write_side.event_types()[-1] == "SessionEnded"
    # Every access token of the session (A's and B's share its id) is revoked...
    assert _session_revoked(write_side, first["refresh_token"])
    # ... and B, the refresh token it was rotated into, no longer works.
    with pytest.raises(Unauthorized):
        bus.handle(RefreshSession(refresh_token=str(second["refresh_token"])))
    # Another login of the same account is untouched.
    other = bus.handle(Login(login="alice", password=PASSWORD)).data
    assert bus.handle(RefreshSession(refresh_token=str(other["refresh_token"]))).data
    assert not _session_revoked(write_side, other["refresh_token"])


def test_a_garbage_secret_does_not_end_the_session(bus: CommandBus, write_side: WriteSide) -> None:
    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    token = str(bus.handle(Login(login="alice", password=PASSWORD)).data["refresh_token"])
    session_hex = token.split(".", 1)[0]
    before = write_side.head()
    with pytest.raises(Unauthorized):
        bus.handle(RefreshSession(refresh_token=f"{session_hex}.guessed-secret"))
    assert write_side.head() == before
    assert bus.handle(RefreshSession(refresh_token=token)).data


def test_two_refreshes_racing_with_one_token_one_wins_and_the_loser_ends_the_session(
    bus: CommandBus, write_side: WriteSide
) -> None:
    """The loser of the race presents a token that was just rotated out: reuse,
    as the BCP asks; the session ends (documented in docs/api.md)."""
    from concurrent.futures import ThreadPoolExecutor

    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    token = str(bus.handle(Login(login="alice", password=PASSWORD)).data["refresh_token"])

    def refresh() -> object:
        try:
            return bus.handle(RefreshSession(refresh_token=token)).data
        except Unauthorized as error:
            return error

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: refresh(), range(2)))
    failures = [o for o in outcomes if isinstance(o, Unauthorized)]
    assert len(failures) >= 1
    assert _session_revoked(write_side, token)
    for outcome in outcomes:
        if isinstance(outcome, dict):
            with pytest.raises(Unauthorized):
                bus.handle(RefreshSession(refresh_token=str(outcome["refresh_token"])))


def test_unreadable_refresh_tokens_are_401(bus: CommandBus) -> None:
    tokens = ["", "garbage", ".", "0" * 32 + ".secret", "not-hex-at-all-not-hex-at-all-xx.s",
              "0123456789abcdef0123456789abcdef", "\u0661" * 32 + ".s"]
    for token in tokens:
        with pytest.raises(Unauthorized) as caught:
            bus.handle(RefreshSession(refresh_token=token))
        assert caught.value.code == "invalid_refresh_token"


def test_refresh_token_with_a_tampered_secret_is_401(bus: CommandBus) -> None:
    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    token = str(bus.handle(Login(login="alice", password=PASSWORD)).data["refresh_token"])
    session_hex, secret = token.split(".", 1)
    with pytest.raises(Unauthorized):
        bus.handle(RefreshSession(refresh_token=f"{session_hex}.{secret[::-1]}"))
    with pytest.raises(Unauthorized):
        bus.handle(RefreshSession(refresh_token=f"{session_hex}."))


def other_aggregate_ids(bus: CommandBus) -> tuple[Actor, list[UUID]]:
    """Alice, and ids of aggregates that are not sessions, computable from public data."""
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    post = bus.handle(CreatePost(actor=alice, text="hello"))
    bus.handle(SetFollow(actor=alice, username="bob", active=True))
    return alice, [account_uuid("alice"), post_uuid(int(post.data["id"])),
                   email_claim_uuid("alice@example.com"),
                   follow_uuid(alice.account_id, bob.account_id)]


def test_refresh_token_naming_another_kind_of_aggregate_is_401(
    bus: CommandBus, write_side: WriteSide
) -> None:
    _, targets = other_aggregate_ids(bus)
    before = write_side.head()
    for target in targets:
        assert bus.context.store.get_or_none(target) is not None  # it exists, it is no session
        with pytest.raises(Unauthorized) as caught:
            bus.handle(RefreshSession(refresh_token=f"{target.hex}.anything"))
        assert caught.value.code == "invalid_refresh_token"
    assert write_side.head() == before


def test_logout_naming_another_kind_of_aggregate_is_401(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice, targets = other_aggregate_ids(bus)
    before = write_side.head()
    for target in targets:
        with pytest.raises(Unauthorized) as caught:
            bus.handle(Logout(actor=Actor(account_id=alice.account_id, username="alice",
                                          session_id=target.hex)))
        assert caught.value.code == "invalid_token"
    assert write_side.head() == before


def test_login_by_email_normalises_it_like_sign_up(bus: CommandBus) -> None:
    composed = "jos\u00e9@b\u00fccher.example"
    bus.handle(RegisterAccount(username="jose", email=composed, password=PASSWORD))
    decomposed = "jose\u0301@bu\u0308cher.example"  # the same address, NFD
    for login in (composed, decomposed, "JOS\u00c9@B\u00dcCHER.example",
                  "jos\u00e9@xn--bcher-kva.example", f"  {composed} "):
        tokens = bus.handle(Login(login=login, password=PASSWORD)).data
        assert tokens["refresh_token"], login
    for login in ("jose@bucher.example", "jos\u00e9@", "@b\u00fccher.example"):
        with pytest.raises(Unauthorized) as caught:
            bus.handle(Login(login=login, password=PASSWORD))
        assert caught.value.code == "invalid_credentials"


def test_logout_ends_the_session_and_revokes_its_access_tokens(
    bus: CommandBus, write_side: WriteSide
) -> None:
    bus.handle(RegisterAccount(username="alice", email="alice@example.com", password=PASSWORD))
    tokens = bus.handle(Login(login="alice", password=PASSWORD)).data
    refresh = str(tokens["refresh_token"])
    actor = actor_of(bus, refresh)
    ended = bus.handle(Logout(actor=actor))
    assert ended.position == write_side.head()
    assert write_side.event_types()[-1] == "SessionEnded"
    ttl = write_side.revocation_ttl(actor.session_id)
    assert ttl is not None and 0 < ttl <= write_side.settings.access_token_ttl_s
    with pytest.raises(Unauthorized):
        bus.handle(RefreshSession(refresh_token=refresh))
    # logging out again changes nothing and answers the same position
    assert bus.handle(Logout(actor=actor)).position == ended.position
    assert write_side.head() == ended.position
    # a new login still works: a new, independent session
    again = bus.handle(Login(login="alice", password=PASSWORD)).data
    assert str(again["refresh_token"]).split(".")[0] != actor.session_id


def actor_of(bus: CommandBus, refresh_token: str) -> Actor:
    """The actor an access token of this session would name."""
    session_hex = refresh_token.split(".", 1)[0]
    session = bus.context.store.get_or_none(UUID(hex=session_hex))
    return Actor(account_id=session.account_id, username=session.username,
                 session_id=session_hex)


# --- profile ------------------------------------------------------------------------------


def test_update_profile_changes_only_sent_fields_and_null_clears(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice = signup(bus, "alice")
    first = bus.handle(UpdateProfile(actor=alice, changes={"bio": "hi", "display_name": "Al"}))
    assert (first.data["bio"], first.data["display_name"], first.data["avatar_url"]) == (
        "hi", "Al", "")
    same = bus.handle(UpdateProfile(actor=alice, changes={"bio": "hi"}))
    assert same.position == first.position == write_side.head()
    cleared = bus.handle(UpdateProfile(actor=alice, changes={"bio": None}))
    assert cleared.position > first.position
    assert (cleared.data["bio"], cleared.data["display_name"]) == ("", "Al")


def test_update_profile_validation_names_fields_and_appends_nothing(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice = signup(bus, "alice")
    before = write_side.head()
    with pytest.raises(ValidationFailed) as caught:
        bus.handle(UpdateProfile(actor=alice, changes={"avatar_url": "http://x.example/a.png",
                                                       "bio": "b" * 501}))
    assert set(caught.value.details["fields"]) == {"avatar_url", "bio"}
    assert write_side.head() == before


# --- posts ------------------------------------------------------------------------------------


def test_create_post_normalises_text_and_extracts_mentions_of_existing_accounts(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice = signup(bus, "alice")
    signup(bus, "Bob")
    text = "  Cafe\u0301 with @BOB and @ghost #Tea #tea "
    result = bus.handle(CreatePost(actor=alice, text=text))
    assert result.position == write_side.head()
    data = result.data
    assert data["text"] == "Caf\u00e9 with @BOB and @ghost #Tea #tea"
    assert data["mentions"] == ["Bob"]  # as signed up; @ghost does not exist
    assert data["hashtags"] == ["tea"]
    assert data["author_id"] == alice.account_id


def test_bad_post_text_is_422_naming_text_and_appends_nothing(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice = signup(bus, "alice")
    before = write_side.head()
    for text in ("", "   \n", "\u3000", "x" * 281, " " + "e\u0301" * 281):
        with pytest.raises(ValidationFailed) as caught:
            bus.handle(CreatePost(actor=alice, text=text))
        assert list(caught.value.details["fields"]) == ["text"]
    assert write_side.head() == before
    # the limit is on the normalised text: 280 decomposed letters are 560 code points
    ok = bus.handle(CreatePost(actor=alice, text="e\u0301" * 280 + "  "))
    assert ok.data["text"] == "\u00e9" * 280


def test_replies_and_quotes_need_a_live_post(bus: CommandBus, write_side: WriteSide) -> None:
    alice = signup(bus, "alice")
    post_id = int(bus.handle(CreatePost(actor=alice, text="root")).data["id"])
    reply = bus.handle(CreatePost(actor=alice, text="reply", reply_to_id=post_id,
                                  quote_of_id=post_id))
    assert (reply.data["reply_to_id"], reply.data["quote_of_id"]) == (post_id, post_id)
    bus.handle(DeletePost(actor=alice, post_id=post_id))
    before = write_side.head()
    with pytest.raises(ValidationFailed) as caught:
        bus.handle(CreatePost(actor=alice, text="late", reply_to_id=post_id,
                              quote_of_id=123456789))
    assert set(caught.value.details["fields"]) == {"reply_to_id", "quote_of_id"}
    assert write_side.head() == before


def test_only_the_author_may_delete_and_a_deleted_post_is_gone(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    post_id = int(bus.handle(CreatePost(actor=alice, text="mine")).data["id"])
    before = write_side.head()
    with pytest.raises(Forbidden) as caught:
        bus.handle(DeletePost(actor=bob, post_id=post_id))
    assert (caught.value.status, caught.value.code) == (403, "not_author")
    assert write_side.head() == before
    deleted = bus.handle(DeletePost(actor=alice, post_id=post_id))
    assert deleted.position == write_side.head() > before
    assert write_side.event_types(after=before) == ["PostDeleted"]
    for actor in (alice, bob):
        with pytest.raises(NotFound) as gone:
            bus.handle(DeletePost(actor=actor, post_id=post_id))
        assert gone.value.code == "post_not_found"
    with pytest.raises(NotFound):
        bus.handle(DeletePost(actor=alice, post_id=987654321))


# --- follows ----------------------------------------------------------------------------------


def test_follow_is_idempotent_and_repeats_answer_the_same_position(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    first = bus.handle(SetFollow(actor=alice, username="BOB", active=True))
    assert first.position == write_side.head()
    assert first.data == {"following": True, "followed_by": False, "blocking": False,
                          "blocked_by": False, "muting": False}
    for name in ("bob", "Bob"):
        again = bus.handle(SetFollow(actor=alice, username=name, active=True))
        assert again.position == first.position
        assert again.data["following"] is True
    assert write_side.head() == first.position

    back = bus.handle(SetFollow(actor=bob, username="alice", active=True))
    assert back.data["followed_by"] is True

    gone = bus.handle(SetFollow(actor=alice, username="bob", active=False))
    assert gone.position == write_side.head() > back.position
    assert gone.data["following"] is False and gone.data["followed_by"] is True
    unfollow_again = bus.handle(SetFollow(actor=alice, username="bob", active=False))
    assert unfollow_again.position == gone.position

    refollowed = bus.handle(SetFollow(actor=alice, username="bob", active=True))
    assert refollowed.position == write_side.head() > gone.position
    follow_again = bus.handle(SetFollow(actor=alice, username="bob", active=True))
    assert follow_again.position == refollowed.position
    assert write_side.event_types(after=first.position) == [
        "Followed", "Unfollowed", "Refollowed"]


def test_unfollow_without_a_follow_changes_nothing_and_answers_0(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice = signup(bus, "alice")
    signup(bus, "bob")
    before = write_side.head()
    result = bus.handle(SetFollow(actor=alice, username="bob", active=False))
    assert result.position == 0
    assert result.data["following"] is False
    assert write_side.head() == before


def test_self_follow_is_422_cannot_follow_self(bus: CommandBus, write_side: WriteSide) -> None:
    alice = signup(bus, "alice")
    before = write_side.head()
    for command in (SetFollow(actor=alice, username="ALICE", active=True),
                    SetFollow(actor=alice, username="alice", active=False)):
        with pytest.raises(ValidationFailed) as caught:
            bus.handle(command)
        assert (caught.value.status, caught.value.code) == (422, "cannot_follow_self")
        assert list(caught.value.details["fields"]) == ["username"]
    assert write_side.head() == before


def test_following_an_unknown_account_is_404(bus: CommandBus, write_side: WriteSide) -> None:
    alice = signup(bus, "alice")
    before = write_side.head()
    for command in (SetFollow(actor=alice, username="nobody", active=True),
                    SetFollow(actor=alice, username="nobody", active=False)):
        with pytest.raises(NotFound) as caught:
            bus.handle(command)
        assert (caught.value.status, caught.value.code) == (404, "account_not_found")
    assert write_side.head() == before


# --- notifications (preferences and read marks are events) --------------------------------


def test_notification_preferences_answer_all_six_and_an_unchanged_one_appends_nothing(
    bus: CommandBus, write_side: WriteSide
) -> None:
    alice = signup(bus, "alice")
    before = write_side.head()
    defaults = bus.handle(UpdateNotificationPreferences(alice, {"like": "everyone"}))
    assert defaults.position == 0 and write_side.head() == before  # the defaults: no event
    changed = bus.handle(UpdateNotificationPreferences(alice, {"like": "off"}))
    assert changed.position == write_side.head() > before
    assert changed.data == {"follow": "everyone", "like": "off", "repost": "everyone",
                            "reply": "everyone", "mention": "everyone", "quote": "everyone"}
    same = bus.handle(UpdateNotificationPreferences(alice, {"like": "off", "quote": "everyone"}))
    assert (same.position, same.data) == (changed.position, changed.data)
    again = bus.handle(UpdateNotificationPreferences(alice, {"reply": "following"}))
    assert again.position == write_side.head() > changed.position
    assert again.data == {**changed.data, "reply": "following"}
    with pytest.raises(ValidationFailed) as refused:
        bus.handle(UpdateNotificationPreferences(alice, {"like": "sometimes", "sound": "off"}))
    assert set(refused.value.details["fields"]) == {"like", "sound"}
    assert write_side.event_types(after=before) == [
        "NotificationPreferencesCreated", "NotificationPreferencesUpdated"]


def test_each_read_mark_is_one_event_of_its_own(bus: CommandBus, write_side: WriteSide) -> None:
    alice = signup(bus, "alice")
    before = write_side.head()
    first = bus.handle(MarkNotificationsRead(alice, up_to_id=5))
    second = bus.handle(MarkNotificationsRead(alice, ids=(7, 9)))
    assert before < first.position < second.position == write_side.head()
    assert (first.data, second.data) == ({}, {})
    assert write_side.event_types(after=before) == ["NotificationsMarkedRead"] * 2
