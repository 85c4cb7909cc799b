"""Reading the event store's notification log, and the parking lot, on real PostgreSQL."""

from __future__ import annotations

import re
from uuid import UUID

import psycopg

from commands.bus import CommandBus
from commands.messages import CreatePost, Login, RefreshSession, SetFollow
from domain.ids import account_uuid
from infra.database import AsyncPool
from infra.eventlog import REDACTED_FIELDS, iter_envelopes, max_position, read_envelopes
from infra.parking import PostgresParkingLot
from infra.settings import Settings
from ports.events import EventEnvelope
from tests.integration.conftest import PASSWORD, signup, store_max_position

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def make_history(bus: CommandBus) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    for i in range(3):
        bus.handle(CreatePost(actor=alice, text=f"post {i} #tag{i}"))


async def test_read_envelopes_pages_bounds_and_filters(
    bus: CommandBus, pool: AsyncPool, settings: Settings
) -> None:
    make_history(bus)
    async with pool.connection() as conn:
        everything = await read_envelopes(conn, 0)
        last = await max_position(conn)
        assert last == store_max_position(settings) == everything[-1].position
        positions = [e.position for e in everything]
        assert positions == sorted(set(positions))  # strictly increasing
        middle = positions[len(positions) // 2]
        cut = positions.index(middle) + 1
        assert await read_envelopes(conn, 0, upto=middle) == everything[:cut]
        assert await read_envelopes(conn, middle) == everything[cut:]
        assert await read_envelopes(conn, 0, limit=3) == everything[:3]
        assert await read_envelopes(conn, last) == []
        posts = await read_envelopes(conn, 0, topics=["domain.posts:Post.PostCreated"])
        assert [e.type for e in posts] == ["PostCreated"] * 3
        assert posts == [e for e in everything if e.type == "PostCreated"]
        paged = [e async for e in iter_envelopes(conn, page=2)]
        assert paged == everything
        assert [e async for e in iter_envelopes(conn, after=middle, page=4)] == everything[cut:]


async def test_envelopes_carry_the_public_fields_and_no_secrets(
    bus: CommandBus, pool: AsyncPool
) -> None:
    make_history(bus)
    async with pool.connection() as conn:
        first = await read_envelopes(conn, 0)
        again = await read_envelopes(conn, 0)
    assert first == again  # deterministic, event ids included
    assert len({e.event_id for e in first}) == len(first)
    for event in first:
        UUID(event.event_id)
        UUID(event.aggregate_id)
        assert RFC3339_MS.match(event.occurred_at), event.occurred_at
        assert event.aggregate_version >= 1
        assert event.schema_version == (3 if event.type == "PostCreated" else 1)  # v3: media_ids
        assert "password_hash" not in event.payload
        assert "timestamp" not in event.payload
        assert EventEnvelope.from_json(event.to_json()) == event
    registered = [e for e in first if e.type == "AccountRegistered"]
    assert [e.payload["username"] for e in registered] == ["alice", "bob"]
    created = [e for e in first if e.type == "PostCreated"]
    assert created[0].payload["hashtags"] == ["tag0"]
    assert isinstance(created[0].payload["post_id"], int)


async def test_session_events_do_not_publish_the_refresh_verifier(
    bus: CommandBus, pool: AsyncPool
) -> None:
    signup(bus, "alice")
    tokens = bus.handle(Login(login="alice", password=PASSWORD)).data
    bus.handle(RefreshSession(refresh_token=str(tokens["refresh_token"])))
    async with pool.connection() as conn:
        events = await read_envelopes(conn, 0)
    sessions = [e for e in events if e.type in ("SessionStarted", "SessionRefreshed")]
    assert {e.type for e in sessions} == {"SessionStarted", "SessionRefreshed"}
    for event in sessions:
        assert "refresh_hash" not in event.payload, event.type
    started = next(e for e in sessions if e.type == "SessionStarted")
    assert started.payload["username"] == "alice"  # the rest is still published


async def test_no_event_publishes_an_email_address_or_a_secret(
    bus: CommandBus, pool: AsyncPool, settings: Settings
) -> None:
    make_history(bus)
    bus.handle(Login(login="alice@example.com", password=PASSWORD))
    async with pool.connection() as conn:
        events = await read_envelopes(conn, 0)
    types = {e.type for e in events}
    assert {"AccountRegistered", "EmailClaimed", "SessionStarted"} <= types
    for event in events:
        assert not REDACTED_FIELDS & set(event.payload), event.type
        assert "@example.com" not in event.to_json().decode(), event.type
    registered = next(e for e in events if e.type == "AccountRegistered")
    assert registered.payload["username"] == "alice"
    # the store itself still has them, sealed with the account's data key (issue 12):
    # only the published form leaves them out
    with psycopg.connect(settings.postgres_conninfo) as sync:
        row = sync.execute("SELECT state FROM roost_events WHERE notification_id = %s",
                           (registered.position,)).fetchone()
    assert row is not None and b"alice@example.com" not in bytes(row[0])
    assert bus.context.store.get_or_none(account_uuid("alice")).email == "alice@example.com"


def parked_envelope(position: int) -> EventEnvelope:
    return EventEnvelope(
        position=position, event_id=f"00000000-0000-0000-0000-{position:012d}",
        type="PostCreated", aggregate_id="5499994e-e77d-5da8-80cd-aa0a1f577053",
        aggregate_version=1, occurred_at="2026-11-24T10:00:00.123Z", schema_version=1,
        payload={"post_id": 2**63 - 1, "text": "h\u00e9llo", "mentions": [], "reply_to_id": None},
    )


async def test_parking_lot_round_trip(pool: AsyncPool) -> None:
    lot = PostgresParkingLot(pool)
    await lot.park("timelines", parked_envelope(7), "RuntimeError('x')", 5)
    await lot.park("timelines", parked_envelope(3), "RuntimeError('y')", 5)
    await lot.park("read_models", parked_envelope(7), "KeyError('z')", 2)
    await lot.park("timelines", parked_envelope(7), "RuntimeError('again')", 6)  # re-parked

    listed = await lot.list_parked("timelines")
    assert [(r["projector"], r["position"], r["error"], r["attempts"]) for r in listed] == [
        ("timelines", 3, "RuntimeError('y')", 5), ("timelines", 7, "RuntimeError('again')", 6)]
    assert len(await lot.list_parked()) == 3
    assert await lot.take("timelines") == [parked_envelope(3), parked_envelope(7)]

    await lot.release("timelines", 3)
    assert [e.position for e in await lot.take("timelines")] == [7]
    assert [e.position for e in await lot.take("read_models")] == [7]
