"""The contract of ``ports.trends``: ``TrendCounterWriter`` and ``TrendCounterReader``
(one object implements both), for the Redis adapter and the in-memory fake."""

from __future__ import annotations

from typing import Protocol

import pytest

from ports.errors import DependencyUnavailable
from ports.trends import DAY_S, HOUR_S, TagUse, TrendCounterReader, TrendCounterWriter

NOW = 1_775_001_600  # on the hour
MINUTE = 60


class TrendCounters(TrendCounterWriter, TrendCounterReader, Protocol):
    """The adapter under test implements both sides."""


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
