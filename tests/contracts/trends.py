"""The contract of ``ports.trends``: ``TrendCounterWriter`` and ``TrendCounterReader``
(one object implements both), for the Redis adapter and the in-memory fake."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any, Protocol

import pytest

from ports.errors import DependencyUnavailable
from ports.trends import (
    DAY_S,
    HOUR_S,
    WEEK_S,
    Suspension,
    TagUse,
    TrendAnswerCache,
    TrendCounterReader,
    TrendCounterWriter,
)

NOW = 1_775_001_600  # on the hour
MINUTE = 60


class TrendCounters(TrendCounterWriter, TrendCounterReader, TrendAnswerCache, Protocol):
    """The adapter under test implements every side."""


class Computations:
    """A ``compute`` for ``TrendAnswerCache.cached`` that counts its calls; with
    ``gate``, each call waits for it to be set."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    async def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return [{"tag": "t", "call": self.calls}]


async def miss_together(caches: Sequence[TrendAnswerCache]
                        ) -> tuple[int, list[list[dict[str, Any]]]]:
    """One reader per item of ``caches`` asks for one key together, while the first
    computation is held until all have asked: (computations made, answers)."""
    gate = asyncio.Event()
    compute = Computations(gate)
    readers = [asyncio.create_task(c.cached("1h:5:20", 60, compute)) for c in caches]

    async def started() -> bool:
        return compute.calls > 0

    await until(started)
    gate.set()
    answers = await asyncio.gather(*readers)
    return compute.calls, list(answers)


async def until(check: Any, timeout_s: float = 10.0) -> None:
    """Wait until ``await check()`` is true, at most ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not await check():
            await asyncio.sleep(0.02)


def use(tag: str, ago_s: int, text: str, author: int = 1, weight: float = 1.0) -> TagUse:
    return TagUse(tag, NOW - ago_s, text, author, weight)


class TrendCountersContract:
    """Fixtures: ``counters`` (empty, reachable) and ``unreachable``."""

    async def test_each_batch_counts_once_with_its_position(self, counters: TrendCounters
                                                            ) -> None:
        assert await counters.position() == 0
        assert await counters.record([use("a", 60, "t1")], first=1, upto=3)
        assert await counters.position() == 3
        # the same batch again, or one that overlaps what was counted: nothing
        assert not await counters.record([use("a", 60, "t2")], first=3, upto=5)
        assert not await counters.record([use("a", 60, "t3")], first=2, upto=9)
        assert await counters.position() == 3
        assert await counters.record([], first=4, upto=7)  # events of no concern
        assert await counters.position() == 7
        assert await counters.record([use("a", 60, "t4")], first=0, upto=None)  # a replay
        assert await counters.position() == 7
        [window] = await counters.windows(["a"], NOW, HOUR_S)
        assert (window.posts, window.volume) == (2, 2.0)

    async def test_suspensions_change_with_their_batch_and_only_forward(
        self, counters: TrendCounters,
    ) -> None:
        big = 2**53 - 1  # positions are exact up to here
        assert await counters.suspended([1, 2]) == set()
        assert await counters.suspended([]) == set()
        assert await counters.record([use("a", 60, "t1", author=1)], first=1, upto=5,
                                     suspensions=[Suspension(1, 3, True),
                                                  Suspension(2, 4, True),
                                                  Suspension(2, 5, False)])
        assert await counters.suspended([1, 2, 3]) == {1}
        # a batch counted before: its suspensions are not applied either
        assert not await counters.record([], first=5, upto=6,
                                         suspensions=[Suspension(3, 6, True)])
        assert await counters.suspended([3]) == set()
        # replayed changes apply only over older ones
        await counters.record([], first=0, upto=None, suspensions=[
            Suspension(1, 2, False), Suspension(2, 4, True), Suspension(3, big, True)])
        assert await counters.suspended([1, 2, 3]) == {1, 3}
        await counters.record([], first=6, upto=big, suspensions=[Suspension(1, big, False)])
        assert await counters.suspended([1, 3]) == {3}
        await counters.reset()
        assert await counters.suspended([3]) == set()

    async def test_a_text_counts_once_per_tag_and_day_whoever_posts_it(
        self, counters: TrendCounters,
    ) -> None:
        await counters.record([use("a", 60, "same", author=i) for i in range(1, 30)]
                              + [use("b", 60, "same", author=1)], first=1, upto=1)
        await counters.record([use("a", 120, "same", author=99),
                               use("a", 120, "other", author=5, weight=0.25)], first=2, upto=2)
        a, b = await counters.windows(["a", "b"], NOW, HOUR_S)
        assert (a.posts, a.volume, a.authors) == (2, 1.25, 2)
        assert (b.posts, b.volume, b.authors) == (1, 1.0, 1)

    async def test_windows_halves_and_baselines(self, counters: TrendCounters) -> None:
        uses = [
            use("t", 5 * MINUTE, "late", author=1),  # the second half of the last hour
            use("t", 50 * MINUTE, "early", author=2, weight=0.5),  # the first half
            use("t", 2 * HOUR_S, "before", author=3),  # before the 1 h window
            use("t", 3 * HOUR_S + 1, "yesterday-ish", author=4, weight=2.0),
            use("t", 3 * DAY_S, "last week", author=5, weight=24.0),
        ]
        await counters.record([u for u in uses], first=1, upto=1)
        [hour] = await counters.windows(["t"], NOW, HOUR_S)
        assert (hour.volume, hour.first_half, hour.second_half) == (1.5, 0.5, 1.0)
        assert (hour.posts, hour.authors) == (2, 2)
        assert hour.baseline_day == pytest.approx((1.0 + 2.0) / 24)
        assert hour.baseline_week == pytest.approx((1.0 + 2.0 + 24.0) / 168)
        [four] = await counters.windows(["t"], NOW, 4 * HOUR_S)
        assert (four.volume, four.posts, four.authors) == (4.5, 4, 4)
        [day] = await counters.windows(["t"], NOW, 24 * HOUR_S)
        assert (day.volume, day.posts, day.authors) == (4.5, 4, 4)
        assert day.baseline_week == pytest.approx(24.0 / 168)
        [none] = await counters.windows(["absent"], NOW, HOUR_S)
        assert (none.volume, none.posts, none.authors, none.baseline_week) == (0, 0, 0, 0)

    async def test_candidates_are_the_most_used_tags_of_the_window(
        self, counters: TrendCounters,
    ) -> None:
        await counters.record([use("big", 60, f"b{i}") for i in range(5)]
                              + [use("mid", 60, f"m{i}") for i in range(3)]
                              + [use("small", 60, "s")]
                              + [use("old", 2 * HOUR_S, f"o{i}") for i in range(9)],
                              first=1, upto=1)
        assert await counters.candidates(NOW, HOUR_S, 2) == ["big", "mid"]
        assert await counters.candidates(NOW, HOUR_S, 10) == ["big", "mid", "small"]
        assert await counters.candidates(NOW, 4 * HOUR_S, 1) == ["old"]
        assert await counters.candidates(NOW, 24 * HOUR_S, 1) == ["old"]

    async def test_reset_forgets_everything(self, counters: TrendCounters) -> None:
        await counters.record([use("a", 60, "x")], first=1, upto=4)
        await counters.reset()
        assert await counters.position() == 0
        assert await counters.candidates(NOW, HOUR_S, 5) == []
        assert await counters.record([use("a", 60, "x")], first=1, upto=1)  # counts again

    async def test_an_unreachable_store_is_a_dependency_failure(
        self, unreachable: TrendCounters,
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            await unreachable.position()
        with pytest.raises(DependencyUnavailable):
            await unreachable.record([use("a", 60, "x")], first=1, upto=1)
        with pytest.raises(DependencyUnavailable):
            await unreachable.windows(["a"], NOW, HOUR_S)
        with pytest.raises(DependencyUnavailable):
            await unreachable.cached("1h:5:20", 10, Computations())

    async def test_baselines_from_daily_totals_equal_the_hours_summed_under_replays(
        self, counters: TrendCounters,
    ) -> None:
        """Whatever hour the window starts at (so however daily totals and hours are
        combined), a baseline is the sum of the hours: duplicates, redelivered batches
        and replays count in the day's total exactly as in its hours."""
        rng = random.Random(7)
        uses = [use(rng.choice("ab"), rng.randrange(-DAY_S, 8 * DAY_S), f"x{rng.randrange(60)}",
                    author=rng.randrange(1, 50), weight=rng.choice((0.1, 0.25, 0.7, 1.0)))
                for _ in range(400)]
        counted: dict[tuple[str, int, str], TagUse] = {}
        for u in uses:  # the first use of a text per tag and day is the one counted
            counted.setdefault((u.tag, u.at_s // DAY_S, u.text_key), u)
        for n in range(0, len(uses), 50):
            assert await counters.record(uses[n:n + 50], first=n + 1, upto=n + 50)
            assert not await counters.record(uses[n:n + 50], first=n + 1, upto=n + 50)
        assert await counters.record(uses[::3], first=0, upto=None)  # replays of parked ones

        def hours(tag: str, start: int, end: int) -> float:
            return sum(u.weight for u in counted.values() if u.tag == tag
                       and start <= u.at_s // HOUR_S * HOUR_S < end)

        for offset in range(0, DAY_S, HOUR_S):
            now = NOW + offset
            start = now - HOUR_S  # the hour the 1 h window begins in
            a, b = await counters.windows(["a", "b"], now, HOUR_S)
            for found in (a, b):
                assert found.baseline_day * 24 == pytest.approx(
                    hours(found.tag, start - DAY_S, start), abs=1e-6)
                assert found.baseline_week * 168 == pytest.approx(
                    hours(found.tag, start - WEEK_S, start), abs=1e-6)

    async def test_a_cached_answer_is_shared_until_it_expires(
        self, counters: TrendCounters,
    ) -> None:
        compute = Computations()
        first = await counters.cached("1h:5:20", 60, compute)
        assert await counters.cached("1h:5:20", 60, compute) == first == [
            {"tag": "t", "call": 1}]
        assert compute.calls == 1
        assert await counters.cached("4h:5:20", 60, compute) == [{"tag": "t", "call": 2}]

        short = Computations()
        assert await counters.cached("24h:5:20", 0.2, short) == [{"tag": "t", "call": 1}]

        async def recomputed() -> bool:
            return await counters.cached("24h:5:20", 0.2, short) == [{"tag": "t", "call": 2}]

        await until(recomputed)

    async def test_readers_that_miss_together_compute_once(
        self, counters: TrendCounters,
    ) -> None:
        calls, answers = await miss_together([counters] * 10)
        assert calls == 1
        assert answers == [[{"tag": "t", "call": 1}]] * 10

    async def test_a_reader_that_goes_away_does_not_fail_the_others(
        self, counters: TrendCounters,
    ) -> None:
        gate = asyncio.Event()
        compute = Computations(gate)
        first = asyncio.create_task(counters.cached("1h:5:20", 60, compute))

        async def started() -> bool:
            return compute.calls > 0

        await until(started)
        second = asyncio.create_task(counters.cached("1h:5:20", 60, compute))
        first.cancel()
        gate.set()
        assert (await second)[0]["tag"] == "t"
        with pytest.raises(asyncio.CancelledError):
            await first

    async def test_reset_forgets_cached_answers(self, counters: TrendCounters) -> None:
        compute = Computations()
        await counters.cached("1h:5:20", 60, compute)
        await counters.reset()
        assert await counters.cached("1h:5:20", 60, compute) == [{"tag": "t", "call": 2}]
