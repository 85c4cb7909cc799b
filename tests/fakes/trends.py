"""In-memory trend counters (ports ``TrendCounterWriter``, ``TrendCounterReader`` and
``TrendAnswerCache``), with the adapter's buckets, dedupe and atomic position; exact
author counts; baselines summed hour by hour (the adapter's daily totals must agree)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import ports.trends
from ports.errors import DependencyUnavailable
from ports.trends import BUCKET_S, DAY_S, HOUR_S, WEEK_S, Suspension, TagUse, TagWindow


def _buckets(start_s: int, end_s: int, size: int) -> list[int]:
    first = start_s // size * size + size
    return list(range(first, end_s // size * size + 1, size))


class MemoryTrendCounters:
    def __init__(self) -> None:
        self.recorded = 0
        self.unavailable = False
        self.volume: dict[tuple[int, str, int], float] = defaultdict(float)
        self.texts: dict[tuple[int, str, int], int] = defaultdict(int)
        self.authors: dict[tuple[int, str, int], set[int]] = defaultdict(set)
        self.seen: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.answers: dict[str, tuple[float, Any]] = {}
        self.computing: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.suspensions: dict[int, Suspension] = {}

    def _check(self) -> None:
        if self.unavailable:
            raise DependencyUnavailable("the fake trend counters are down")

    async def position(self) -> int:
        self._check()
        return self.recorded

    async def suspended(self, account_ids: Sequence[int]) -> set[int]:
        self._check()
        return {i for i in account_ids
                if (held := self.suspensions.get(i)) is not None and held.suspended}

    async def record(self, uses: Sequence[TagUse], first: int, upto: int | None,
                     suspensions: Sequence[Suspension] = ()) -> bool:
        self._check()
        if upto is not None and self.recorded >= first:
            return False
        for change in suspensions:
            held = self.suspensions.get(change.account_id)
            if held is None or held.position < change.position:
                self.suspensions[change.account_id] = change
        for use in uses:
            seen = self.seen[(use.tag, use.at_s // DAY_S)]
            if use.text_key in seen:
                continue
            seen.add(use.text_key)
            for size in (BUCKET_S, HOUR_S):
                key = (size, use.tag, use.at_s // size * size)
                self.volume[key] += use.weight
                self.texts[key] += 1
                self.authors[key].add(use.author_id)
        if upto is not None:
            self.recorded = upto
        return True

    async def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    @staticmethod
    def _size(window_s: int) -> int:
        return BUCKET_S if window_s in (HOUR_S, 4 * HOUR_S) else HOUR_S

    def pinned(self) -> MemoryTrendCounters:
        return self

    async def candidates(self, now_s: int, window_s: int, limit: int) -> list[str]:
        self._check()
        size = self._size(window_s)
        totals: dict[str, float] = defaultdict(float)
        for bucket in _buckets(now_s - window_s, now_s, size):
            for (grain, tag, start), weight in self.volume.items():
                if grain == size and start == bucket:
                    totals[tag] += weight
        return sorted(totals, key=lambda t: (-totals[t], t))[:limit]

    async def windows(self, tags: Sequence[str], now_s: int, window_s: int
                      ) -> list[TagWindow]:
        self._check()
        size = self._size(window_s)
        start = now_s - window_s
        window = _buckets(start, now_s, size)
        half = len(window) // 2
        found = []
        for tag in tags:
            weights = [self.volume.get((size, tag, b), 0.0) for b in window]
            authors: set[int] = set()
            for b in window:
                authors |= self.authors.get((size, tag, b), set())

            def hourly(span: int, tag: str = tag) -> float:
                end = window[0] // HOUR_S * HOUR_S
                return sum(self.volume.get((HOUR_S, tag, b), 0.0)
                           for b in range(end - span, end, HOUR_S))

            found.append(TagWindow(
                tag=tag, volume=sum(weights), first_half=sum(weights[:half]),
                second_half=sum(weights[half:]),
                posts=sum(self.texts.get((size, tag, b), 0) for b in window),
                authors=len(authors), baseline_day=hourly(DAY_S) / 24,
                baseline_week=hourly(WEEK_S) / (WEEK_S // HOUR_S)))
        return found

    async def cached(self, key: str, ttl_s: float,
                     compute: Callable[[], Awaitable[ports.trends.Answer]]) -> ports.trends.Answer:
        self._check()
        async with self.computing[key]:
            stored = self.answers.get(key)
            if stored is not None and time.monotonic() < stored[0]:
                found: ports.trends.Answer = stored[1]  # what compute() gave for this key
                return found
            answer = await compute()
            self.answers[key] = (time.monotonic() + ttl_s, answer)
            return answer
