"""Poison events in the event store: parked by every projector that cannot apply
them, never stopping the events after them; parked envelopes survive any content;
replay-parked applies them once the code is fixed; outages park nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from commands.messages import SetFollow
from infra import database, notification_store
from infra.bootstrap import (
    ProjectionServices,
    build_command_bus,
    build_projections,
    build_runner,
)
from infra.database import migrate
from infra.eventlog import max_position, read_envelopes
from infra.operations import parked, replay_parked
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from ports.events import EventEnvelope
from ports.search import PostSearch
from projections.base import Projector
from projections.runner import ProjectionRunner
from tests.integration.conftest import SettingsFactory, close_bus, signup
from tests.integration.pipeline import home_ids, keep, post, query_context
from tests.poison import poison_events, store

PROJECTORS = ("read_models", "timelines", "notification_groups", "search_index", "trends")


async def catch_up_all(settings: Settings, services: ProjectionServices) -> None:
    async with services.pool.connection() as conn:
        head = await max_position(conn)
    for name in PROJECTORS:
        runner = build_runner(settings, services, name)
        await runner.catch_up(head)
        assert await services.projectors[name].position() == head


@pytest.fixture
def quick(settings_factory: SettingsFactory) -> Settings:
    """Retries without real waiting: a poison event is parked after 2 quick attempts."""
    return settings_factory(projector_max_attempts=2, projector_backoff_s=0.001)


async def test_poison_events_are_parked_and_every_event_after_them_projected(
    quick: Settings,
) -> None:
    bus = build_command_bus(quick)
    services = await build_projections(quick)
    try:
        alice, bob = signup(bus, "alice"), signup(bus, "bob")
        await keep(query_context(services, quick), bob)
        bus.handle(SetFollow(actor=bob, username="alice", active=True))
        before = post(bus, alice, "before")
        poisons = poison_events(alice.account_id, bob.account_id)
        positions = store(quick, poisons)
        after = post(bus, alice, "after")

        await catch_up_all(quick, services)

        rows = await services.parking.list_parked()
        for name in PROJECTORS:
            expected = [pos for pos, p in zip(positions, poisons, strict=True)
                        if name in p.parked_by]
            assert [r["position"] for r in rows if r["projector"] == name] == expected, name
        assert all("\x00" not in r["error"] for r in rows)
        assert {r["event_type"] for r in rows} >= {"PostEdited", "Undecodable"}
        # the parked envelope is the event exactly, U+0000 included
        nul = next(e for e in await services.parking.take("read_models")
                   if e.position == positions[0])
        assert nul.payload["text"] == "a\x00b"
        assert await services.parking.counts() == {"read_models": 7, "timelines": 4,
                                                   "notification_groups": 5,
                                                   "search_index": 5, "trends": 3}

        async with services.pool.connection() as conn:
            cur = await conn.execute("SELECT id, text FROM rm_posts ORDER BY id")
            assert await cur.fetchall() == [(before, "before"), (after, "after")]
            cur = await conn.execute("SELECT posts_count FROM rm_accounts WHERE id = %s",
                                     (alice.account_id,))
            assert await cur.fetchone() == (2,)
        timeline = await home_ids(services.redis, RedisKeys(quick.redis_prefix),
                                  bob.account_id)
        assert after in timeline and before in timeline
        found = await services.search.search_posts(PostSearch(order="newest"))
        assert [hit.id for hit in found] == [after, before, 7_000_000_002, 7_000_000_001]

        # a second pass (a restarted worker) parks nothing twice and moves nothing
        await catch_up_all(quick, services)
        assert len(await services.parking.list_parked()) == len(rows)
    finally:
        close_bus(bus)
        await services.close()


class BuggyProjector:
    """A projector with a bug: every apply of the event creating ``post_id`` fails;
    the rest goes to the real projector ``real``."""

    def __init__(self, real: Projector, post_id: int) -> None:
        self.real, self.post_id = real, post_id
        self.name = real.name

    def _check(self, *events: EventEnvelope) -> None:
        if any(e.type == "PostCreated" and e.payload["post_id"] == self.post_id
               for e in events):
            raise ValueError("a bug in the projector")

    async def apply(self, event: EventEnvelope, *, expected_position: int = 0) -> None:
        self._check(event)
        await self.real.apply(event, expected_position=expected_position)

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        self._check(*events)
        await self.real.apply_batch(events, expected_position=expected_position)

    async def replay(self, event: EventEnvelope) -> None:
        self._check(event)
        await self.real.replay(event)

    def __getattr__(self, name: str) -> Any:  # position, advance, reset, after_rebuild
        return getattr(self.real, name)


async def test_replay_parked_applies_them_once_the_code_is_fixed(quick: Settings) -> None:
    """Park (a bug in the read models' PostCreated), fix, ``replay-parked``: gone from
    the parked list and projected."""
    bus = build_command_bus(quick)
    services = await build_projections(quick)
    try:
        alice = signup(bus, "alice")
        buggy = post(bus, alice, "hits the bug \U0001f41b")
        fine = post(bus, alice, "fine")

        real = services.projectors["read_models"]
        services.projectors["read_models"] = BuggyProjector(real, buggy)
        await catch_up_all(quick, services)
        assert [(r["projector"], r["event_type"]) for r in await parked(services)] == [
            ("read_models", "PostCreated")]
        assert "a bug in the projector" in (await parked(services))[0]["error"]

        services.projectors["read_models"] = real  # the fix
        assert await replay_parked(services, "read_models") == (1, 0)
        assert await parked(services) == []
        async with services.pool.connection() as conn:
            cur = await conn.execute("SELECT id, text FROM rm_posts ORDER BY id")
            assert await cur.fetchall() == [(buggy, "hits the bug \U0001f41b"),
                                            (fine, "fine")]
            cur = await conn.execute("SELECT posts_count FROM rm_accounts WHERE id = %s",
                                     (alice.account_id,))
            assert await cur.fetchone() == (2,)
        # what is still broken stays parked, and says so
        store(quick, poison_events(alice.account_id, alice.account_id)[:1])
        await catch_up_all(quick, services)
        assert await replay_parked(services, "read_models") == (0, 1)
        assert len(await parked(services)) == 1
    finally:
        close_bus(bus)
        await services.close()


async def test_parked_rows_of_the_old_jsonb_form_are_migrated_and_replayable(
    quick: Settings,
) -> None:
    bus = build_command_bus(quick)
    services = await build_projections(quick)
    try:
        alice = signup(bus, "alice")
        created = post(bus, alice, "parked long ago")
        async with services.pool.connection() as conn:
            events = [e for e in await read_envelopes(conn, 0) if e.type == "PostCreated"]
        # as the old code stored it: envelope jsonb, no bytes
        with psycopg.connect(quick.postgres_conninfo, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO parked_events (projector, position, event_type, envelope, error, "
                "attempts) VALUES ('read_models', %s, 'PostCreated', %s, 'old', 5)",
                (events[0].position, Jsonb(asdict(events[0]))))
            # ... and its database recorded no applied schema (the old code kept none)
            conn.execute("DELETE FROM schema_applied")
        migrate(quick)  # schema.sql at the next start
        with psycopg.connect(quick.postgres_conninfo) as conn:
            row = conn.execute("SELECT envelope IS NULL, envelope_json IS NOT NULL "
                               "FROM parked_events").fetchone()
        assert row == (True, True)
        assert await services.parking.take("read_models") == events
        assert await replay_parked(services, "read_models") == (1, 0)
        async with services.pool.connection() as conn:
            cur = await conn.execute("SELECT text FROM rm_posts WHERE id = %s", (created,))
            assert await cur.fetchone() == ("parked long ago",)
    finally:
        close_bus(bus)
        await services.close()


async def test_a_parking_lot_that_cannot_be_reached_parks_nothing_and_skips_nothing(
    quick: Settings,
) -> None:
    """The event cannot be applied and PostgreSQL refuses the parking: the runner raises
    (its supervised loop backs off) and stays before the event; once the parking lot
    answers again, the event is parked and the ones after it are applied."""
    bus = build_command_bus(quick)
    services = await build_projections(quick)
    down = await build_projections(quick)
    await down.pool.close()  # a parking lot whose database is gone
    try:
        alice = signup(bus, "alice")
        await catch_up_all(quick, services)
        start = await services.projectors["read_models"].position()
        poisoned = store(quick, poison_events(alice.account_id, alice.account_id)[:1])
        after = post(bus, alice, "after")
        async with services.pool.connection() as conn:
            head = await max_position(conn)
        healthy = build_runner(quick, services, "read_models")
        broken = ProjectionRunner(
            services.projectors["read_models"], healthy.read_log, down.parking,
            max_attempts=2, backoff_s=0.001)
        with pytest.raises(psycopg.errors.OperationalError) as raised:
            await broken.catch_up(head)
        assert "closed" in str(raised.value).lower()
        assert await services.projectors["read_models"].position() == start
        assert await services.parking.list_parked() == []

        await healthy.catch_up(head)
        assert [r["position"] for r in await services.parking.list_parked()] == poisoned
        async with services.pool.connection() as conn:
            cur = await conn.execute("SELECT text FROM rm_posts WHERE id = %s", (after,))
            assert await cur.fetchone() == ("after",)
    finally:
        close_bus(bus)
        await services.close()
        await down.redis.aclose()


def test_an_up_to_date_schema_is_not_applied_again(
    quick: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A part starting beside running ones takes no table lock: the schema's DDL locks
    tables even when it changes nothing, and a relay restarted under load deadlocked
    on them with the worker (the fault tier's SIGKILL of the relay found it)."""
    migrate(quick)
    # Were the DDL run, its wait on the held locks ends in an error, not a hung test.
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=2000")
    with psycopg.connect(quick.postgres_conninfo) as holder, \
            psycopg.connect(quick.postgres_conninfo, autocommit=True) as probe:
        holder.execute("LOCK TABLE rm_posts, rm_follows, parked_events, ntf_groups, ntf_members "
                       "IN ACCESS EXCLUSIVE MODE")
        migrate(quick)  # would wait on the locks (and time out) if it ran the DDL
        holder.rollback()
        applied = probe.execute("SELECT count(*) FROM schema_applied").fetchone()
    assert applied == (1,)


def test_a_change_to_the_notification_sql_alone_is_applied(
    quick: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``migrate`` hashes ``schema.sql`` and ``notification_store.sql`` as one text, so
    editing only the notification store's file applies it (in the live copy's schema,
    ``ntf_v1``) at the next start."""
    migrate(quick)
    with psycopg.connect(quick.postgres_conninfo, autocommit=True) as conn:
        conn.execute("DROP INDEX ntf_v1.ntf_groups_post_idx")
    migrate(quick)  # unchanged text: not applied, the index stays missing
    with psycopg.connect(quick.postgres_conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('ntf_v1.ntf_groups_post_idx')"
                            ).fetchone() == (None,)
    edited = notification_store.schema_sql() + "\n-- an edit\n"
    monkeypatch.setattr(database, "notification_schema_sql", lambda: edited)
    migrate(quick)
    with psycopg.connect(quick.postgres_conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('ntf_v1.ntf_groups_post_idx') IS NOT NULL"
                            ).fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM schema_applied").fetchone() == (2,)
