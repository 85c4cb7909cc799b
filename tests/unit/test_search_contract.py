"""The search index contract (``tests/contracts/search.py``) against the in-memory fake;
``tests/integration/test_search_index.py`` runs it against Elasticsearch (noida-db)."""

from __future__ import annotations

import pytest

from tests.contracts.search import SearchIndexContract
from tests.fakes.search import MemorySearchIndex


class TestMemorySearchIndex(SearchIndexContract):
    @pytest.fixture
    def index(self) -> MemorySearchIndex:
        return MemorySearchIndex()

    @pytest.fixture
    def unreachable(self) -> MemorySearchIndex:
        down = MemorySearchIndex()
        down.unavailable = True
        return down
