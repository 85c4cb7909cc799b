"""The trend counters contract (``tests/contracts/trends.py``) against the in-memory fake;
``tests/integration/test_trends.py`` runs it against Redis."""

from __future__ import annotations

import pytest

from tests.contracts.trends import TrendCountersContract
from tests.fakes.trends import MemoryTrendCounters


class TestMemoryTrendCounters(TrendCountersContract):
    @pytest.fixture
    def counters(self) -> MemoryTrendCounters:
        return MemoryTrendCounters()

    @pytest.fixture
    def unreachable(self) -> MemoryTrendCounters:
        down = MemoryTrendCounters()
        down.unavailable = True
        return down
