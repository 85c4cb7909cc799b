"""Trending tags: which hashtags are rising, from the counters of ``ports.trends``.

For a window W (1 h, 4 h or 24 h) ending now, each candidate tag (the most used
in W) is scored against **its own baseline**, its weighted volume per hour over
the day and over the week before W (the larger of the two: a tag that was as
busy yesterday, or usually, is not rising):

    expected = baseline per hour x hours in W
    surprise = (volume - expected) / sqrt(expected + 1)          (a Poisson z-score)
    velocity = (second half of W + 1) / (first half of W + 1), kept within [0.5, 2]
    score    = surprise x velocity

The answer is the same for every reader: with a ``TrendAnswerCache`` it is
computed once per window every ``cache_s`` seconds (``ROOST_TRENDS_CACHE_S``).

A tag needs at least ``min_authors`` distinct authors in W (default 5), and a
positive score, to be shown. Volumes count each distinct text once per tag and
day (copies of one text by many accounts are one use, by one author), and a
post weighs less the newer its account (``projections.trends``): so one account,
a few, or many fresh ones repeating a text cannot trend a tag.
"""

from __future__ import annotations

import math
from typing import Final

from ports.trends import HOUR_S, TagWindow, TrendAnswerCache, TrendCounterReader
from queries.shapes import TrendingTag, trending_tag

WINDOWS: Final = {"1h": HOUR_S, "4h": 4 * HOUR_S, "24h": 24 * HOUR_S}
CANDIDATES: Final = 200


def trend_score(counts: TagWindow, window_s: int) -> float:
    """The score of the module's formula (higher is rising faster)."""
    expected = max(counts.baseline_day, counts.baseline_week) * window_s / HOUR_S
    surprise = (counts.volume - expected) / math.sqrt(expected + 1)
    velocity = min(2.0, max(0.5, (counts.second_half + 1) / (counts.first_half + 1)))
    return surprise * velocity


async def trending_tags(counters: TrendCounterReader, window: str, now_s: int,
                        min_authors: int = 5, limit: int = 20,
                        cache: TrendAnswerCache | None = None, cache_s: float = 0.0
                        ) -> list[TrendingTag]:
    """``TrendingTag``s, highest score first (at most
    ``limit``). ``window`` is a key of ``WINDOWS``. With ``cache`` and ``cache_s`` > 0,
    an answer computed less than ``cache_s`` seconds ago (for any ``now_s``) is
    returned as it is.

    Raises:
        ports.errors.DependencyUnavailable: the counters (or cache) cannot be reached.
    """
    if cache is not None and cache_s > 0:
        return await cache.cached(f"{window}:{min_authors}:{limit}", cache_s,
                                  lambda: _trending_tags(counters, window, now_s,
                                                         min_authors, limit))
    return await _trending_tags(counters, window, now_s, min_authors, limit)


async def _trending_tags(counters: TrendCounterReader, window: str, now_s: int,
                         min_authors: int, limit: int) -> list[TrendingTag]:
    window_s = WINDOWS[window]
    counters = counters.pinned()  # both reads on one copy of the counters
    tags = await counters.candidates(now_s, window_s, CANDIDATES)
    scored = []
    for counts in await counters.windows(tags, now_s, window_s):
        score = trend_score(counts, window_s)
        if counts.authors >= min_authors and score > 0:
            scored.append((score, counts))
    scored.sort(key=lambda pair: (-pair[0], pair[1].tag))
    return [trending_tag(tag=c.tag, score=score, posts_count=c.posts,
                         accounts_count=c.authors) for score, c in scored[:limit]]
