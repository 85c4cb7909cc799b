"""Aggregates: the events they record, their state transitions and stable topics."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.accounts import Account, EmailClaim
from domain.follows import FollowEdge
from domain.ids import account_uuid, email_claim_uuid, follow_uuid, post_uuid
from domain.posts import Post
from domain.sessions import Session


def rebuilt(aggregate: Aggregate) -> Any:
    """The aggregate reconstructed from its own pending events (as the store would)."""
    state: Any = None
    for event in aggregate.collect_events():
        state = event.mutate(state)
    return state


def event_names(aggregate: Aggregate) -> list[str]:
    return [type(e).__name__ for e in aggregate.pending_events]


def new_account(username: str = "Alice") -> Account:
    return Account(account_id=101, username=username, email="alice@example.com",
                   password_hash="h1", display_name="Alice A")


def test_account_registration_and_profile_updates() -> None:
    account = new_account()
    assert account.id == account_uuid("alice")
    assert (account.version, account.bio, account.avatar_url) == (1, "", "")
    account.update_profile(display_name="A", bio="hello", avatar_url="https://x.example/a.png")
    account.rehash_password("h2")
    assert account.version == 3
    assert event_names(account) == ["AccountRegistered", "ProfileUpdated", "PasswordRehashed"]
    copy = rebuilt(account)
    assert copy.id == account.id and copy.version == 3
    assert (copy.username, copy.display_name, copy.bio, copy.avatar_url, copy.password_hash) == (
        "Alice", "A", "hello", "https://x.example/a.png", "h2")


def test_account_suspended_then_unsuspended() -> None:
    account = new_account()
    assert not account.suspended
    account.suspend(account_id=101, reason="spam links", by="admin:7")
    assert account.suspended and account.suspension_reason == "spam links"
    account.unsuspend(account_id=101, by="cli:ops")
    assert not account.suspended and account.suspension_reason == ""
    account.suspend(account_id=101, reason="", by="cli:ops")
    assert event_names(account) == ["AccountRegistered", "AccountSuspended",
                                    "AccountUnsuspended", "AccountSuspended"]
    payloads = [e.__dict__ for e in account.pending_events[1:]]
    assert [(p["account_id"], p["by"], p.get("reason")) for p in payloads] == [
        (101, "admin:7", "spam links"), (101, "cli:ops", None), (101, "cli:ops", "")]
    copy = rebuilt(account)
    assert copy.suspended and copy.version == 4 and not copy.gone


def test_email_claim_id_is_case_insensitive() -> None:
    claim = EmailClaim(email="Alice@Example.com", account_id=101, username="Alice")
    assert claim.id == email_claim_uuid("alice@example.com")
    assert rebuilt(claim).account_id == 101


def test_post_created_then_deleted() -> None:
    post = Post(post_id=7, author_id=101, author_username="Alice", text="hi #x @bob",
                mentions=["bob"], hashtags=["x"], reply_to_id=None, quote_of_id=3)
    assert post.id == post_uuid(7) and not post.deleted
    post.delete(post_id=7, author_id=101)
    assert post.deleted and post.version == 2
    assert event_names(post) == ["PostCreated", "PostDeleted"]
    copy = rebuilt(post)
    assert copy.deleted and copy.text == "hi #x @bob" and copy.quote_of_id == 3
    assert copy.mentions == ["bob"] and copy.hashtags == ["x"]


def test_follow_edge_toggles() -> None:
    edge = FollowEdge(follower_id=1, followee_id=2)
    assert edge.id == follow_uuid(1, 2) and edge.active
    edge.unfollow(follower_id=1, followee_id=2)
    assert not edge.active
    edge.refollow(follower_id=1, followee_id=2)
    assert edge.active and edge.version == 3
    assert event_names(edge) == ["Followed", "Unfollowed", "Refollowed"]
    events = edge.collect_events()
    # every follow event names both ends, so projectors need no other state
    assert all((e.follower_id, e.followee_id) == (1, 2) for e in events)
    state: Any = None
    for event in events:
        state = event.mutate(state)
    assert state.active and state.version == 3


def test_session_rotates_then_ends() -> None:
    session = Session(account_id=101, username="Alice", refresh_hash="r1")
    session.refresh(refresh_hash="r2")
    assert session.refresh_hash == "r2" and not session.ended
    session.end()
    assert session.ended and session.version == 3
    assert event_names(session) == ["SessionStarted", "SessionRefreshed", "SessionEnded"]
    copy = rebuilt(session)
    assert copy.refresh_hash == "r2" and copy.ended


def test_sessions_get_distinct_random_ids() -> None:
    a = Session(account_id=1, username="a", refresh_hash="x")
    b = Session(account_id=1, username="a", refresh_hash="x")
    assert a.id != b.id


def test_event_topics_are_stable() -> None:
    """Stored events record these class paths; renaming one breaks old events."""
    account = new_account()
    account.update_profile(display_name="", bio="", avatar_url="")
    account.rehash_password("h")
    account.suspend(account_id=1, reason="r", by="operator")
    account.unsuspend(account_id=1, by="operator")
    account.erase(account_id=1, erased_by="operator")
    claim = EmailClaim(email="a@example.com", account_id=1, username="a")
    post = Post(post_id=1, author_id=1, author_username="a", text="t", mentions=[],
                hashtags=[], reply_to_id=None, quote_of_id=None)
    post.delete(post_id=1, author_id=1)
    edge = FollowEdge(follower_id=1, followee_id=2)
    edge.unfollow(follower_id=1, followee_id=2)
    edge.refollow(follower_id=1, followee_id=2)
    session = Session(account_id=1, username="a", refresh_hash="x")
    session.refresh(refresh_hash="y")
    session.end()
    topics = [get_topic(type(e)) for agg in (account, claim, post, edge, session)
              for e in agg.collect_events()]
    assert topics == [
        "domain.accounts:Account.AccountRegistered",
        "domain.accounts:Account.ProfileUpdated",
        "domain.accounts:Account.PasswordRehashed",
        "domain.accounts:Account.AccountSuspended",
        "domain.accounts:Account.AccountUnsuspended",
        "domain.accounts:Account.AccountErased",
        "domain.accounts:EmailClaim.EmailClaimed",
        "domain.posts:Post.PostCreated",
        "domain.posts:Post.PostDeleted",
        "domain.follows:FollowEdge.Followed",
        "domain.follows:FollowEdge.Unfollowed",
        "domain.follows:FollowEdge.Refollowed",
        "domain.sessions:Session.SessionStarted",
        "domain.sessions:Session.SessionRefreshed",
        "domain.sessions:Session.SessionEnded",
    ]


def test_media_events_topics_and_posts_without_media_ids() -> None:
    """Media events keep their class paths; a PostCreated stored before media existed
    (no ``media_ids``) loads with no media."""
    from domain.ids import media_uuid
    from domain.media import Media

    media = Media(media_id=7, owner_id=1, owner_username="alice", description="",
                  blurhash="h", original={"key": "k"}, small={"key": "s"})
    media.describe(media_id=7, owner_username="alice", description="d")
    media.attach(media_id=7, post_id=9, owner_id=1)
    assert media.id == media_uuid(7)
    assert [get_topic(type(e)) for e in media.pending_events] == [
        "domain.media:Media.MediaUploaded", "domain.media:Media.MediaDescribed",
        "domain.media:Media.MediaAttached"]
    again = rebuilt(media)
    assert (again.description, again.post_id) == ("d", 9)
    post = Post(post_id=1, author_id=1, author_username="a", text="t", mentions=[],
                hashtags=[], reply_to_id=None, quote_of_id=None)
    created = post.collect_events()[0]
    old = object.__new__(type(created))
    old.__dict__.update({k: v for k, v in created.__dict__.items() if k != "media_ids"})
    loaded: Any = old.mutate(None)
    assert loaded.media_ids == []
