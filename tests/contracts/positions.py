"""The contract of ``ports.positions.ProjectionPositions``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ports.positions import ProjectionPositions
from ports.projectors import NOTIFICATIONS, PROJECTORS, READ_MODELS, SEARCH, TIMELINES, TRENDS

Record = Callable[[str, int], Awaitable[None]]
"""``record(projector, position)``: the projector's own write of its position."""


class ProjectionPositionsContract:
    """Fixtures: ``positions`` (the port, nothing recorded yet) and ``record``, which
    records a position where the projector itself does (for the real adapter: the
    projector's ``advance``), so the tests check the port reads what projectors write."""

    async def test_a_projector_that_recorded_nothing_is_at_zero(
        self, positions: ProjectionPositions,
    ) -> None:
        for name in PROJECTORS:
            assert await positions.position(name) == 0
        assert await positions.positions() == dict.fromkeys(PROJECTORS, 0)
        assert await positions.position("no_such_projector") == 0

    async def test_each_projector_is_read_where_it_recorded(
        self, positions: ProjectionPositions, record: Record,
    ) -> None:
        await record(READ_MODELS, 5)
        assert await positions.position(READ_MODELS) == 5
        assert await positions.position(TIMELINES) == 0  # each has its own
        await record(TIMELINES, 3)
        assert await positions.position(TIMELINES) == 3
        assert await positions.position(READ_MODELS) == 5
        await record(NOTIFICATIONS, 4)
        assert [await positions.position(name) for name in (READ_MODELS, TIMELINES,
                                                            NOTIFICATIONS)] == [5, 3, 4]

    async def test_later_positions_are_read(
        self, positions: ProjectionPositions, record: Record,
    ) -> None:
        for position in (1, 2, 40, 2**63 - 1):
            await record(TIMELINES, position)
            assert await positions.position(TIMELINES) == position

    async def test_the_search_index_and_trends_are_read_where_they_recorded(
        self, positions: ProjectionPositions, record: Record,
    ) -> None:
        await record(SEARCH, 4)
        await record(TRENDS, 9)
        assert await positions.positions((SEARCH, TRENDS, READ_MODELS)) == {
            SEARCH: 4, TRENDS: 9, READ_MODELS: 0}

    async def test_all_positions_in_the_order_asked(
        self, positions: ProjectionPositions, record: Record,
    ) -> None:
        await record(READ_MODELS, 7)
        await record(TIMELINES, 6)
        every = await positions.positions()
        assert every == {**dict.fromkeys(PROJECTORS, 0), READ_MODELS: 7, TIMELINES: 6}
        assert list(every) == list(PROJECTORS)
        assert list(await positions.positions((TIMELINES, READ_MODELS))) == [
            TIMELINES, READ_MODELS]
        assert await positions.positions((TIMELINES,)) == {TIMELINES: 6}
