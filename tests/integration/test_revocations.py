"""The SessionRevocations port (``commands.ports``): one contract, run against the fake
the in-memory handler tests use and against the Redis adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from commands.ports import SessionRevocations
from infra.redis_clients import build_sync_redis
from infra.redis_keys import RedisKeys
from infra.security import RedisRevocations
from infra.settings import Settings
from tests.fakes.revocations import MemoryRevocations
from tests.integration.conftest import redis_revocation_ttl

Probe = Callable[[str], "int | None"]
"""Whole seconds left of a session's revocation; None when not revoked."""
Marked = Callable[[int], bool]
"""Whether the account is marked suspended."""


class RevocationsContract:
    @pytest.fixture
    def revocations(self) -> Iterator[tuple[SessionRevocations, Probe]]:
        raise NotImplementedError  # each implementation's class provides it

    @pytest.fixture
    def marked(self) -> Marked:
        raise NotImplementedError  # each implementation's class provides it

    def test_a_revoked_session_stays_revoked_for_its_ttl(
            self, revocations: tuple[SessionRevocations, Probe]) -> None:
        revoke, ttl = revocations
        assert ttl("s-1") is None
        revoke.revoke("s-1", 900)
        left = ttl("s-1")
        assert left is not None and 890 < left <= 900
        assert ttl("s-2") is None  # only that session

    def test_an_account_stays_marked_suspended_until_unmarked(
            self, revocations: tuple[SessionRevocations, Probe], marked: Marked) -> None:
        mark, _ = revocations
        assert not marked(7)
        mark.set_account_suspended(7, True)
        mark.set_account_suspended(7, True)  # idempotent
        assert marked(7) and not marked(8)
        mark.set_account_suspended(7, False)
        mark.set_account_suspended(7, False)
        assert not marked(7)

    def test_a_ttl_below_one_second_still_revokes(
            self, revocations: tuple[SessionRevocations, Probe]) -> None:
        revoke, ttl = revocations
        revoke.revoke("s-3", 0)
        assert ttl("s-3") == 1


class TestMemoryRevocations(RevocationsContract):
    @pytest.fixture
    def revocations(self) -> Iterator[tuple[SessionRevocations, Probe]]:
        fake = MemoryRevocations()
        yield fake, fake.ttl

    @pytest.fixture
    def marked(self, revocations: tuple[MemoryRevocations, Probe]) -> Marked:
        return revocations[0].suspended.__contains__


class TestRedisRevocations(RevocationsContract):
    @pytest.fixture
    def revocations(self, settings: Settings) -> Iterator[tuple[SessionRevocations, Probe]]:
        adapter = RedisRevocations(build_sync_redis(settings),
                                   RedisKeys(settings.redis_prefix))
        probe = build_sync_redis(settings)
        probe.ping()  # connected before any test's clock starts
        yield adapter, redis_revocation_ttl(settings, probe)
        probe.close()
        adapter.close()

    @pytest.fixture
    def marked(self, settings: Settings) -> Iterator[Marked]:
        client = build_sync_redis(settings)
        keys = RedisKeys(settings.redis_prefix)
        yield lambda account_id: bool(client.exists(keys.suspended_account(account_id)))
        client.close()
