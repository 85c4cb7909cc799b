"""The store ports' contracts (``tests/contracts``) against their in-memory fakes
(``tests/fakes``); ``tests/integration/test_store_contracts.py`` runs the same
classes against the real adapters."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eventsourcing.domain import Aggregate

from infra.event_store import MemoryEventStore
from ports.live import Channel
from ports.timelines import TimelineStore
from tests.contracts.event_reader import EventReaderContract, History, memory_history, memory_reader
from tests.contracts.event_reader import Given as EventsGiven
from tests.contracts.live import BUFFER, QUEUE, Live, LiveContract
from tests.contracts.media_store import MediaStoreContract
from tests.contracts.notification_store import NotificationStoreContract
from tests.contracts.page_facts import FactsCacheContract
from tests.contracts.parking import ParkingLotContract
from tests.contracts.positions import ProjectionPositionsContract, Record
from tests.contracts.post_cache import PostCacheContract
from tests.contracts.read_model_reader import Given, ReadModelReaderContract
from tests.contracts.read_models import ReadBack, ReadModelStoreContract
from tests.contracts.search import SearchIndexContract
from tests.contracts.timelines import MAX_ENTRIES, TimelineStoreContract
from tests.contracts.trends import TrendCountersContract
from tests.fakes.event_reader import MemoryEventReader
from tests.fakes.live import FakeLive
from tests.fakes.media_store import FakeMediaStore
from tests.fakes.notifications import FakeNotificationStore
from tests.fakes.page_facts import FakeFactsCache
from tests.fakes.parking import FakeParkingLot
from tests.fakes.positions import FakePositions
from tests.fakes.post_cache import FakePostCache
from tests.fakes.read_model_reader import FakeReadModelReader, ReadModelTables
from tests.fakes.read_models import FakeReadModelStore
from tests.fakes.search import MemorySearchIndex
from tests.fakes.timelines import FakeTimelineStore
from tests.fakes.trends import MemoryTrendCounters


class TestFakePostCache(PostCacheContract):
    @pytest.fixture
    def cache(self) -> FakePostCache:
        return FakePostCache()

    @pytest.fixture
    def unreachable(self) -> FakePostCache:
        down = FakePostCache()
        down.unavailable = True
        return down


class TestFakeFactsCache(FactsCacheContract):
    @pytest.fixture
    def cache(self) -> FakeFactsCache:
        return FakeFactsCache()

    @pytest.fixture
    def unreachable(self) -> FakeFactsCache:
        down = FakeFactsCache()
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


class TestFakeReadModelStore(ReadModelStoreContract):
    @pytest.fixture
    def store(self) -> FakeReadModelStore:
        return FakeReadModelStore()

    @pytest.fixture
    def tables(self, store: FakeReadModelStore) -> ReadBack:
        return store.snapshot


class TestFakeReadModelReader(ReadModelReaderContract):
    @pytest.fixture
    def given(self) -> Given:
        async def given(tables: ReadModelTables) -> FakeReadModelReader:
            return FakeReadModelReader(tables)
        return given


class TestFakeNotificationStore(NotificationStoreContract):
    @pytest.fixture
    def store(self) -> FakeNotificationStore:
        return FakeNotificationStore()


class TestFakeLive(LiveContract):
    @pytest.fixture
    def live(self) -> Live:
        fake = FakeLive(buffer=BUFFER, queue=QUEUE)

        async def expire(channel: Channel, account: int) -> None:
            fake.expire(channel, account)

        return Live(fake, fake, expire)


class TestMemorySearchIndex(SearchIndexContract):
    @pytest.fixture
    def index(self) -> MemorySearchIndex:
        return MemorySearchIndex()

    @pytest.fixture
    def unreachable(self) -> MemorySearchIndex:
        down = MemorySearchIndex()
        down.unavailable = True
        return down


class TestMemoryTrendCounters(TrendCountersContract):
    @pytest.fixture
    def counters(self) -> MemoryTrendCounters:
        return MemoryTrendCounters()

    @pytest.fixture
    def unreachable(self) -> MemoryTrendCounters:
        down = MemoryTrendCounters()
        down.unavailable = True
        return down


class TestMemoryEventReader(EventReaderContract):
    @pytest.fixture
    def history(self) -> History:
        return memory_history()

    @pytest.fixture
    def given(self) -> EventsGiven:
        async def given(aggregates: Sequence[Aggregate]) -> MemoryEventReader:
            store = MemoryEventStore()
            for aggregate in aggregates:
                store.save_all(aggregate)
            return memory_reader(store)
        return given


class TestFakeMediaStore(MediaStoreContract):
    @pytest.fixture
    def store(self) -> FakeMediaStore:
        return FakeMediaStore()

    @pytest.fixture
    def unreachable(self) -> FakeMediaStore:
        down = FakeMediaStore()
        down.unavailable = True
        return down
