"""The store ports' contracts (``tests/contracts``) against their in-memory fakes
(``tests/fakes``); ``tests/integration/test_store_contracts.py`` runs the same
classes against the real adapters."""

from __future__ import annotations

import pytest

from ports.timelines import TimelineStore
from tests.contracts.parking import ParkingLotContract
from tests.contracts.positions import ProjectionPositionsContract, Record
from tests.contracts.post_cache import PostCacheContract
from tests.contracts.timelines import MAX_ENTRIES, TimelineStoreContract
from tests.fakes.parking import FakeParkingLot
from tests.fakes.positions import FakePositions
from tests.fakes.post_cache import FakePostCache
from tests.fakes.timelines import FakeTimelineStore


class TestFakePostCache(PostCacheContract):
    @pytest.fixture
    def cache(self) -> FakePostCache:
        return FakePostCache()

    @pytest.fixture
    def unreachable(self) -> FakePostCache:
        down = FakePostCache()
        down.unavailable = True
        return down


class TestFakePositions(ProjectionPositionsContract):
    @pytest.fixture
    def positions(self) -> FakePositions:
        return FakePositions()

    @pytest.fixture
    def record(self, positions: FakePositions) -> Record:
        async def record(projector: str, position: int) -> None:
            positions.record(projector, position)
        return record


class TestFakeParkingLot(ParkingLotContract):
    @pytest.fixture
    def lot(self) -> FakeParkingLot:
        return FakeParkingLot()


class TestFakeTimelineStore(TimelineStoreContract):
    @pytest.fixture
    def store(self) -> TimelineStore:
        return FakeTimelineStore(max_entries=MAX_ENTRIES)
