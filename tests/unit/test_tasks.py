"""stop_task: a bounded stop of a task whose cancellation may be lost."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from infra.tasks import stop_task


async def test_a_task_that_ends_on_its_cancel_is_stopped_with_no_error() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    assert await stop_task(task, 1.0) is None
    assert task.cancelled()


async def test_a_task_that_failed_hands_back_its_error() -> None:
    async def fail() -> None:
        raise ValueError("renewal refused")

    task = asyncio.create_task(fail())
    await asyncio.sleep(0)
    error = await stop_task(task, 1.0)
    assert isinstance(error, ValueError)


async def test_a_task_that_loses_its_cancel_is_waited_for_only_a_bounded_time() -> None:
    stopping = asyncio.Event()

    async def loses_every_cancel() -> None:
        while not stopping.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # lost, as redis-py can
                await asyncio.sleep(60)

    task = asyncio.create_task(loses_every_cancel(), name="stubborn")
    await asyncio.sleep(0)
    with capture_logs() as logs:
        async with asyncio.timeout(5):
            assert await stop_task(task, 0.05) is None
    assert not task.done()
    assert [e for e in logs if e["event"] == "task.not_stopped"] == [
        {"event": "task.not_stopped", "task": "stubborn", "waited_s": 0.05,
         "log_level": "error"}]
    stopping.set()
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()
