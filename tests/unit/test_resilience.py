"""Guard: a failing step is logged and retried after a bounded exponential backoff."""

from __future__ import annotations

import asyncio

import pytest

from infra.resilience import Guard


async def test_until_done_backs_off_exponentially_up_to_the_bound() -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    failures = iter([OSError("down")] * 6 + [None])

    async def step() -> str:
        error = next(failures)
        if error is not None:
            raise error
        return "done"

    guard = Guard("t", initial_s=0.5, max_s=4.0, sleep=fake_sleep)
    assert await guard.until_done(step) == "done"
    assert slept == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert guard.failures == 0


async def test_once_skips_while_backing_off_and_never_raises() -> None:
    clock = [100.0]
    calls: list[float] = []

    async def failing() -> None:
        calls.append(clock[0])
        raise KeyError("anything at all")

    guard = Guard("t", initial_s=1.0, max_s=8.0, clock=lambda: clock[0])
    assert await guard.once(failing) is False
    assert await guard.once(failing) is False  # still backing off: not run
    clock[0] += 1.0
    assert await guard.once(failing) is False  # run, fails: now 2 s
    clock[0] += 1.5
    assert await guard.once(failing) is False  # not run
    assert calls == [100.0, 101.0]

    async def fine() -> None:
        calls.append(-1.0)

    clock[0] += 1.0
    assert await guard.once(fine) is True
    assert guard.failures == 0


async def test_cancellation_is_not_swallowed() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await Guard("t").once(cancelled)
    with pytest.raises(asyncio.CancelledError):
        await Guard("t").until_done(cancelled)
