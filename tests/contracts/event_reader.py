"""The contract of ``ports.event_reader.EventReader``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from eventsourcing.domain import Aggregate

from domain.accounts import Account
from domain.follows import FollowEdge
from domain.posts import Post
from domain.sessions import Session
from ports.event_reader import EventFilter, EventPage, EventReader

Given = Callable[[Sequence[Aggregate]], Awaitable[EventReader]]
"""``given(aggregates)``: saves each aggregate's pending events, one save per aggregate
in the order given, and returns the reader over that store."""

ALICE, BOB = 101, 202


def _account(account_id: int, username: str) -> Account:
    return Account(account_id=account_id, username=username, email=f"{username}@example.com",
                   password_hash="$argon2id$secret-hash", display_name=username.title())


def _post(post_id: int, author: Account) -> Post:
    return Post(post_id=post_id, author_id=author.account_id, author_username=author.username,
                text=f"post {post_id}", mentions=[], hashtags=[], reply_to_id=None,
                quote_of_id=None)


def history() -> list[Aggregate]:
    """Alice and Bob sign up; Alice edits her profile, posts, follows Bob and logs in
    (a session refreshed once); Bob posts. 9 events."""
    alice, bob = _account(ALICE, "alice"), _account(BOB, "bob")
    alice.update_profile(display_name="Alice A", bio="hi", avatar_url="")
    session = Session(account_id=ALICE, username="alice", refresh_hash="refresh-secret-1")
    session.refresh(refresh_hash="refresh-secret-2")
    return [alice, bob, _post(1, alice), FollowEdge(follower_id=ALICE, followee_id=BOB),
            session, _post(2, bob), _post(3, alice)]


async def read_all(reader: EventReader, wanted: EventFilter, scan: int = 5000) -> EventPage:
    """Follow ``next_after`` until it is ``None``; every item of every page."""
    items = []
    after = wanted.after
    for _ in range(1000):
        page = await reader.read(EventFilter(wanted.types, wanted.aggregate_id,
                                             wanted.account_id, after, wanted.before,
                                             wanted.limit), scan)
        items.extend(page.items)
        if page.next_after is None:
            return EventPage(items, None)
        assert page.next_after > after
        after = page.next_after
    raise AssertionError("the pages never ended")


class EventReaderContract:
    """Fixture: ``given`` (``Given``)."""

    async def test_an_empty_store_has_no_events(self, given: Given) -> None:
        reader = await given([])
        assert await reader.head() == 0
        page = await reader.read(EventFilter())
        assert page.items == [] and page.next_after is None

    async def test_pages_hand_out_every_event_once_in_position_order(self, given: Given
                                                                     ) -> None:
        reader = await given(history())
        everything = (await reader.read(EventFilter(limit=100))).items
        assert len(everything) == 9
        positions = [e.position for e in everything]
        assert positions == sorted(set(positions))
        assert positions[-1] == await reader.head()
        first = await reader.read(EventFilter(limit=4))
        assert [e.position for e in first.items] == positions[:4]
        assert first.next_after == positions[3]
        paged = await read_all(reader, EventFilter(limit=3))
        assert [e.position for e in paged.items] == positions

    async def test_after_and_before_are_exclusive(self, given: Given) -> None:
        reader = await given(history())
        positions = [e.position for e in (await reader.read(EventFilter(limit=100))).items]
        page = await reader.read(EventFilter(after=positions[2], before=positions[6]))
        assert [e.position for e in page.items] == positions[3:6]
        assert page.next_after is None

    async def test_types_select_those_types_only(self, given: Given) -> None:
        reader = await given(history())
        page = await read_all(reader, EventFilter(types=frozenset({"PostCreated",
                                                                   "Followed"}), limit=2))
        assert [e.type for e in page.items] == ["PostCreated", "Followed", "PostCreated",
                                                "PostCreated"]
        assert (await reader.read(EventFilter(types=frozenset({"NoSuchType"})))).items == []

    async def test_an_aggregate_selects_its_events(self, given: Given) -> None:
        aggregates = history()
        session = aggregates[4]
        reader = await given(aggregates)
        page = await reader.read(EventFilter(aggregate_id=str(session.id)))
        assert [(e.type, e.aggregate_version) for e in page.items] == [
            ("SessionStarted", 1), ("SessionRefreshed", 2)]
        assert (await reader.read(EventFilter(aggregate_id="not-a-uuid"))).items == []

    async def test_an_account_selects_the_events_it_caused(self, given: Given) -> None:
        reader = await given(history())
        alices = await read_all(reader, EventFilter(account_id=ALICE, limit=100))
        assert [e.type for e in alices.items] == [
            "AccountRegistered", "ProfileUpdated", "PostCreated", "Followed",
            "SessionStarted", "SessionRefreshed", "PostCreated"]
        bobs = await read_all(reader, EventFilter(account_id=BOB, limit=100))
        assert [e.type for e in bobs.items] == ["AccountRegistered", "PostCreated"]
        assert (await reader.read(EventFilter(account_id=999))).items == []

    async def test_an_account_filter_scans_a_bounded_number_of_rows(self, given: Given
                                                                    ) -> None:
        reader = await given(history())
        first = await reader.read(EventFilter(account_id=BOB, limit=2), scan=3)
        # Rows 1-3 hold Bob's registration only; the page ends short where it stopped.
        assert [e.type for e in first.items] == ["AccountRegistered"]
        assert first.next_after is not None
        rest = await read_all(reader, EventFilter(account_id=BOB, after=first.next_after,
                                                  limit=2), scan=3)
        assert [e.type for e in rest.items] == ["PostCreated"]

    async def test_secrets_are_never_handed_out(self, given: Given) -> None:
        reader = await given(history())
        for envelope in (await reader.read(EventFilter(limit=100))).items:
            text = str(envelope.payload)
            assert "secret" not in text and "@example.com" not in text, envelope
            assert not {"password_hash", "refresh_hash", "email"} & set(envelope.payload)
