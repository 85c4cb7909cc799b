"""A seeded social graph with a power-law follower distribution.

Followees are drawn with Zipf weights (rank ``r`` has weight ``1 / r**alpha``),
so most accounts have a handful to tens of followers and a few have
thousands. Out-degrees are log-normal around the requested average. On top
of that, ``planted`` authors get exactly the follower counts of the fan-out
buckets (10, 1,000, 10,000, capped at the number of other accounts), so lag
can be measured per bucket whatever the random draw.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import statistics
from dataclasses import dataclass, field
from typing import Any

WORDS = (
    "roost", "bird", "song", "morning", "coffee", "river", "light", "city", "rain", "garden",
    "train", "music", "story", "code", "night", "window", "paper", "cloud", "market", "street",
    "friend", "voice", "summer", "winter", "bread", "forest",
)


@dataclass
class Graph:
    """Accounts are indexes ``0..n-1``; ids come from the event store at load time."""

    usernames: list[str]
    follows: list[tuple[int, int]]  # (follower, followee)
    posts: list[int]  # posts per account
    planted: dict[int, list[int]] = field(default_factory=dict)  # bucket -> accounts
    seed: int = 0

    @property
    def size(self) -> int:
        return len(self.usernames)

    def followers_of(self) -> list[list[int]]:
        result: list[list[int]] = [[] for _ in self.usernames]
        for follower, followee in self.follows:
            result[followee].append(follower)
        return result

    def stats(self) -> dict[str, Any]:
        """Degree distribution figures for the report."""
        indegree = sorted(len(f) for f in self.followers_of())
        outdegree = [0] * self.size
        for follower, _ in self.follows:
            outdegree[follower] += 1

        def pct(values: list[int], q: float) -> int:
            return values[min(len(values) - 1, int(q * len(values)))]

        return {
            "accounts": self.size,
            "follows": len(self.follows),
            "posts": sum(self.posts),
            "avg_follows": round(len(self.follows) / max(1, self.size), 2),
            "followers_p50": pct(indegree, 0.50),
            "followers_p90": pct(indegree, 0.90),
            "followers_p99": pct(indegree, 0.99),
            "followers_max": indegree[-1] if indegree else 0,
            "accounts_over_1000_followers": sum(1 for d in indegree if d > 1000),
            "following_p50": int(statistics.median(outdegree)) if outdegree else 0,
            "planted": {str(b): len(a) for b, a in self.planted.items()},
            "seed": self.seed,
        }


def _outdegrees(rng: random.Random, n: int, avg: float, cap: int) -> list[int]:
    sigma = 1.0
    mu = math.log(max(avg, 1.0)) - sigma * sigma / 2  # mean of the log-normal = avg
    return [max(1, min(cap, round(rng.lognormvariate(mu, sigma)))) for _ in range(n)]


def _draw_followees(rng: random.Random, follower: int, want: int, population: list[int],
                    cum_weights: list[float]) -> set[int]:
    chosen: set[int] = set()
    total = cum_weights[-1]
    for _ in range(want * 4 + 10):  # bounded: duplicates and self are redrawn
        if len(chosen) >= want:
            break
        pick = population[bisect.bisect_left(cum_weights, rng.random() * total)]
        if pick != follower:
            chosen.add(pick)
    return chosen


def generate(accounts: int, avg_follows: float, avg_posts: float,
             buckets: tuple[int, ...] = (10, 1_000, 10_000), planted_per_bucket: int = 2,
             alpha: float = 1.0, seed: int = 5) -> Graph:
    """The whole graph, deterministic for a given seed."""
    if accounts < 3:
        raise ValueError("a graph needs at least 3 accounts")
    rng = random.Random(seed)
    usernames = [f"b{i:06d}" for i in range(accounts)]
    order = list(range(accounts))
    rng.shuffle(order)
    planted: dict[int, list[int]] = {}
    taken: set[int] = set()
    pool = iter(order)
    for bucket in buckets:
        size = min(bucket, accounts - 1)
        planted[size] = [a for a in itertools.islice(pool, planted_per_bucket)]
        taken.update(planted[size])
    population = [a for a in order if a not in taken]  # Zipf rank = position here
    cum_weights = list(itertools.accumulate(1.0 / (r + 1) ** alpha
                                            for r in range(len(population))))
    degrees = _outdegrees(rng, accounts, avg_follows, cap=max(1, len(population) - 1))
    follows: list[tuple[int, int]] = []
    for follower in range(accounts):
        for followee in sorted(_draw_followees(rng, follower, degrees[follower], population,
                                               cum_weights)):
            follows.append((follower, followee))
    for size, authors in planted.items():
        for author in authors:
            others = [a for a in range(accounts) if a != author]
            follows.extend((f, author) for f in rng.sample(others, size))
    posts = [min(50, int(rng.expovariate(1.0 / avg_posts))) if avg_posts > 0 else 0
             for _ in range(accounts)]
    for authors in planted.values():
        for author in authors:
            posts[author] = max(posts[author], 3)
    return Graph(usernames, follows, posts, planted, seed)


def post_text(rng: random.Random, usernames: list[str]) -> str:
    """A plausible post: some words, sometimes a hashtag or a mention."""
    words = rng.choices(WORDS, k=rng.randint(6, 22))
    if rng.random() < 0.25:
        words.append(f"#{rng.choice(WORDS)}")
    if rng.random() < 0.05:
        words.insert(0, f"@{rng.choice(usernames)}")
    return " ".join(words)[:280]
