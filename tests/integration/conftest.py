"""Fixtures and helpers for the integration tier: one adapter, its real server.

``wait_until`` is the only way these tests wait: poll a condition until it
holds or a bounded timeout passes. No test sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import redis.asyncio as aredis

from commands.bus import CommandBus
from commands.messages import Actor, Login, RegisterAccount
from infra.bootstrap import (
    ProjectionServices,
    build_command_bus,
    build_projections,
    close_command_bus,
)
from infra.database import AsyncPool, drop_database, migrate, open_pool
from infra.event_store import MemoryEventStore, RoostStore
from infra.redis_clients import async_redis, build_sync_redis
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from tests.conftest import clear_redis_prefix, clear_search_indices, make_settings
from tests.fakes.revocations import MemoryRevocations

Predicate = Callable[[], bool | Awaitable[bool]]
PASSWORD = "correct horse battery"


async def wait_until(predicate: Predicate, timeout: float = 10.0, interval: float = 0.02,
                     message: str = "condition") -> None:
    """Poll ``predicate`` (sync or async) until it is true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


_clear_redis_prefix = clear_redis_prefix  # the name the integration tests import


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings_factory(noida: dict[str, str]) -> Iterator[SettingsFactory]:
    """Like ``settings`` with overrides: ``settings_factory(timeline_max_entries=5)``."""
    made: list[Settings] = []

    def factory(**overrides: object) -> Settings:
        created = make_settings(**{"elasticsearch_url": noida["elasticsearch_url"],
                                   **overrides})
        migrate(created)
        made.append(created)
        return created

    try:
        yield factory
    finally:
        for created in made:
            drop_database(created)
            _clear_redis_prefix(created)
            clear_search_indices(created)
            shutil.rmtree(created.media_dir, ignore_errors=True)


def close_bus(bus: CommandBus) -> None:
    close_command_bus(bus)


@pytest.fixture
def bus(settings: Settings) -> Iterator[CommandBus]:
    command_bus = build_command_bus(settings)
    try:
        yield command_bus
    finally:
        close_bus(command_bus)


@dataclass
class WriteSide:
    """The command side on one event store, and what handler tests read back of it.

    ``kind`` is ``memory`` (``MemoryEventStore`` and a fake revocation list: no
    server at all) or ``postgres`` (the PostgreSQL event store and Redis, as the API
    builds them).
    """

    kind: str
    settings: Settings
    bus: CommandBus
    store: RoostStore
    revocation_ttl: Callable[[str], int | None]
    """Whole seconds left of a session's revocation; ``None`` when it is not revoked."""

    def head(self) -> int:
        """The position of the last stored event (0 when none)."""
        return self.store.head()

    def event_types(self, after: int = 0) -> list[str]:
        """The class names of the events stored after position ``after``, in order."""
        notifications = self.store.recorder.select_notifications(
            start=after, limit=100_000, inclusive_of_start=False)
        return [n.topic.rsplit(".", 1)[-1] for n in notifications]


def redis_revocation_ttl(settings: Settings, client: Any = None
                         ) -> Callable[[str], int | None]:
    """Whole seconds left of a session's revocation in Redis; None when not revoked.
    With ``client`` (a sync client, already connected) no connection is made per call:
    on a loaded Redis Cluster that took longer than a 1 s revocation lives."""

    def ttl(session_id: str) -> int | None:
        redis = client if client is not None else build_sync_redis(settings)
        try:
            left = int(redis.ttl(RedisKeys(settings.redis_prefix).revoked_session(session_id)))
        finally:
            if client is None:
                redis.close()
        return left if left > 0 else None

    return ttl


@pytest.fixture(params=["memory", "postgres"])
def write_side(request: pytest.FixtureRequest) -> Iterator[WriteSide]:
    """The handler tests' command side, once on each event store (``-k memory`` runs
    the in-memory half, which needs no server)."""
    revocation_ttl: Callable[[str], int | None]
    if request.param == "memory":
        settings = make_settings()
        fake = MemoryRevocations()
        bus = build_command_bus(settings, store=MemoryEventStore(), revocations=fake)
        revocation_ttl = fake.ttl
    else:
        settings = request.getfixturevalue("settings")
        bus = build_command_bus(settings)
        revocation_ttl = redis_revocation_ttl(settings)
    store = bus.context.store
    assert isinstance(store, RoostStore)
    try:
        yield WriteSide(request.param, settings, bus, store, revocation_ttl)
    finally:
        close_bus(bus)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[AsyncPool]:
    opened = await open_pool(settings, max_size=4)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def redis_client() -> AsyncIterator[aredis.Redis]:
    client = async_redis(make_settings().redis_url, make_settings().redis_cluster)
    yield client
    await client.aclose()


@pytest.fixture
def keys(settings: Settings) -> RedisKeys:
    return RedisKeys(settings.redis_prefix)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[ProjectionServices]:
    """The projectors and their connections, from the composition root."""
    built = await build_projections(settings)
    try:
        yield built
    finally:
        await built.close()


def store_max_position(settings: Settings) -> int:
    """The event store's last notification id (0 when empty), read directly."""
    with psycopg.connect(settings.postgres_conninfo) as conn:
        row = conn.execute("SELECT COALESCE(MAX(notification_id), 0) FROM roost_events"
                           ).fetchone()
    return int(row[0]) if row else 0


def stored_event_types(settings: Settings, after: int = 0) -> list[str]:
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute(
            "SELECT topic FROM roost_events WHERE notification_id > %s ORDER BY notification_id",
            (after,),
        ).fetchall()
    return [str(row[0]).rsplit(".", 1)[-1] for row in rows]


def signup(bus: CommandBus, username: str, email: str | None = None) -> Actor:
    """Register ``username`` and log in; the actor that commands act for."""
    registered = bus.handle(RegisterAccount(
        username=username, email=email or f"{username.lower()}@example.com", password=PASSWORD,
        display_name=username.title(),
    ))
    tokens = bus.handle(Login(login=username, password=PASSWORD)).data
    session_hex = str(tokens["refresh_token"]).split(".", 1)[0]
    return Actor(account_id=int(registered.data["id"]), username=username,
                 session_id=session_hex)

