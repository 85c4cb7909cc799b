"""freeze_startup_heap: what is alive at start-up leaves the collector's generations."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from infra.heap import freeze_startup_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_the_startup_heap_is_frozen_and_later_garbage_still_collected() -> None:
    kept = [[i] for i in range(1000)]
    frozen = freeze_startup_heap()
    assert frozen >= len(kept) and gc.get_freeze_count() == frozen
    in_oldest = {id(o) for o in gc.get_objects(2)}
    assert not any(id(x) in in_oldest for x in kept)  # frozen, not in generation 2

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    Cycle()
    assert gc.collect() >= 1  # a cycle made after the freeze is still found
