"""Read-your-writes waits (``queries.positions.PositionWatcher``) over the positions
port's fake: one poller for every waiting read, answers from what it has seen."""

from __future__ import annotations

import asyncio

from ports.projectors import READ_MODELS, TIMELINES
from queries.positions import PositionWatcher
from tests.fakes.positions import FakePositions


async def polled(positions: FakePositions, reads: int) -> None:
    """Until the watcher has read ``reads`` positions (bounded by the caller)."""
    while len(positions.reads) < reads:
        await asyncio.sleep(0.001)


async def test_a_wait_ends_once_the_projection_reaches_the_position() -> None:
    positions = FakePositions(read_models=3)
    watcher = PositionWatcher(positions)
    waiting = asyncio.create_task(watcher.wait(READ_MODELS, 5, timeout_s=10))
    await asyncio.wait_for(polled(positions, 1), 5)
    assert not waiting.done()
    positions.record(READ_MODELS, 5)
    assert await asyncio.wait_for(waiting, 5) is True


async def test_one_read_answers_every_waiting_request() -> None:
    positions = FakePositions(read_models=8, timelines=8)
    watcher = PositionWatcher(positions)
    waits = [watcher.wait(READ_MODELS if i % 2 else TIMELINES, 8, timeout_s=10)
             for i in range(20)]
    assert await asyncio.wait_for(asyncio.gather(*waits), 5) == [True] * 20
    assert sorted(positions.reads) == [READ_MODELS, TIMELINES]


async def test_a_position_seen_once_answers_without_a_read() -> None:
    positions = FakePositions(timelines=4)
    watcher = PositionWatcher(positions)
    assert await watcher.wait(TIMELINES, 4, timeout_s=10)
    reads = len(positions.reads)
    assert await watcher.wait(TIMELINES, 2, timeout_s=0)
    assert len(positions.reads) == reads


async def test_a_wait_that_times_out_says_so() -> None:
    positions = FakePositions(read_models=1)
    assert await PositionWatcher(positions).wait(READ_MODELS, 2, timeout_s=0.02) is False
