"""``python -m bench.search [--posts N]``: search indexing, post search and trends costs.

Three parts (run in the order 1, 3, 2: the longest last), each printed beside the
raw limit of the block underneath, measured in the same run on the same servers
(never asserted):

1. **Indexing** (``--index-posts``, 20,000): generated ``PostCreated`` events through
   the ``search_index`` projector (``SearchProjector.apply_batch`` on
   ``ElasticsearchIndex``, batches of ``--batch`` like the projection runner), in
   documents/s; beside a plain ``_bulk`` of the same documents straight to the
   server (same batch size, no versions, no refresh), and the same ``_bulk`` with
   what the projector asks for (``version_type=external``, ``refresh=true``), so
   the gap is split between the server's work and Roost's.
2. **Search** over ``--posts`` (100,000) generated posts, **bulk-loaded straight
   into the index** (not through the projector: at its rate that would take far
   longer; part 1 measures the projector) and into the read models (PostgreSQL
   ``COPY``, so that hydration finds them), measured at each ``--checkpoints``
   size on the way up. Each query form runs through ``queries.search.search_posts``
   (the grammar, the index's relevance query, hydration through the post cache)
   as the API does for an anonymous reader, at most ``--repeat`` times or for
   ``--seconds`` per form, and at least ``--min-repeat`` times; beside it, one raw
   ``match`` query on ``text`` (size 21) straight to the server.
3. **Trends** (``--trend-posts``, 50,000 posts over the last 8 days): recording tag
   uses through the ``trends`` projector (one Lua script per batch) and reading
   ``GET /api/trends/tags``'s query (``queries.trends.trending_tags``) for each
   window; beside bare redis-py pipelined commands/s, with the number of Redis
   commands each costs, so the raw time of the same work is shown.

Everything runs on its own: a fresh noida-db (Kafka + Elasticsearch) on free ports
and a temporary data directory (or, with ``--elasticsearch-url``, indices
``sbench-<run>-*`` on a running cluster), a database ``roost_sbench_<run>``, Redis
keys under ``sbench-<run>:``; all removed at the end. The machine may be shared:
the figures say what this machine did while the run lasted.

One million posts (the issue's figure) is ``--posts 1000000``, meant for a real
Elasticsearch 8 cluster (``--elasticsearch-url``). noida-db, the development
server, scans every document for each query and slows its bulk writes as it
grows: on the shared 2-core machine a scratch load of 12-word posts reached
790,000 after 14 minutes (the last ones at ~1,000/s; RSS 2.7 GiB), and one
``match`` took 0.3 s at 10,000 posts, 2-6 s at 100,000 and ~10 s at 300,000;
p50/p99 of every form at 1M would take hours there, so its default is 100,000
(docs/performance.md, "Search and trends").
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from elasticsearch import AsyncElasticsearch

from bench.stack import bench_settings, clear_redis_prefix, rss_bytes
from bench.stats import summarize
from domain.ids import EPOCH_MS, NODE_BITS, SEQUENCE_BITS
from infra import devstack
from infra.bootstrap import build_queries
from infra.database import drop_database, migrate, open_pool
from infra.redis_clients import build_async_redis
from infra.redis_keys import RedisKeys
from infra.search_index import ElasticsearchIndex, build_client
from infra.search_schema import POSTS_MAPPING, SearchNames, analysis
from infra.settings import Settings
from infra.trend_counters import RedisTrendCounters, hour_range
from ports.events import EventEnvelope
from ports.search import AccountSearch, Hit, PostSearch
from ports.trends import DAY_S, HOUR_S, WEEK_S
from projections.search import SearchProjector
from projections.trends import TrendsProjector
from queries.search import search_posts
from queries.shapes import TrendingTag
from queries.trends import CANDIDATES, WINDOWS, trending_tags

SHIFT = NODE_BITS + SEQUENCE_BITS
DAY_MS = 86_400_000
ACCOUNTS = 10_000
TAGS = 2_000
VOCABULARY = 20_000
SYLLABLES = ("ka", "lo", "ru", "mi", "ten", "sa", "vo", "ne", "pa", "dri", "shu", "bel",
             "om", "ti", "gra", "fe", "zu", "nal", "cor", "yi")


# -- generated content ---------------------------------------------------------


def _words() -> list[str]:
    """VOCABULARY distinct pronounceable words (2-4 syllables), the same every run."""
    rng = random.Random(11)
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
    return list(words)


WORDS = _words()
# Zipf-like: the word of rank r is drawn with weight 1/r (a few very common words,
# a long tail), as in real text.
_CUM_WORDS = list(itertools.accumulate(1 / r for r in range(1, VOCABULARY + 1)))
_CUM_TAGS = list(itertools.accumulate(1 / r for r in range(1, TAGS + 1)))


def account_id(n: int) -> int:
    """Account ``n``'s Snowflake id: made a year before 2026 + ``n`` ms (old enough to
    weigh 1 in trends)."""
    return (n + 1) << SHIFT


def username(n: int) -> str:
    return f"user{n}"


@dataclass(frozen=True, slots=True)
class GeneratedPost:
    post_id: int
    author: int
    text: str
    tags: tuple[str, ...]
    created_ms: int

    def source(self) -> dict[str, Any]:
        """The document ``ElasticsearchIndex`` writes for such a post."""
        return {"post_id": self.post_id, "author_id": account_id(self.author),
                "author_username": username(self.author),
                "author_display_name": f"User {self.author}", "author_position": 1,
                "text": self.text, "hashtags": list(self.tags), "mentions": [],
                "created_at": _rfc3339(self.created_ms), "created_ms": self.created_ms,
                "deleted": False}

    def envelope(self, position: int) -> EventEnvelope:
        """A ``PostCreated`` event of this post at ``position``."""
        return EventEnvelope(
            position=position, event_id=str(uuid.uuid4()), type="PostCreated",
            aggregate_id=str(uuid.uuid4()), aggregate_version=1,
            occurred_at=_rfc3339(self.created_ms), schema_version=1,
            payload={"post_id": self.post_id, "author_id": account_id(self.author),
                     "author_username": username(self.author), "text": self.text,
                     "mentions": [], "hashtags": list(self.tags), "reply_to_id": None,
                     "quote_of_id": None})


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def generate_posts(count: int, seed: int, start_ms: int, end_ms: int) -> Iterator[GeneratedPost]:
    """``count`` posts at uniformly random times from ``start_ms`` to ``end_ms`` (so any
    first part of them spans the whole period; the id is the time's Snowflake):
    6-24 Zipf-drawn words, 0-3 Zipf-drawn tags, one of ACCOUNTS authors."""
    rng = random.Random(seed)
    for i in range(count):
        created = rng.randrange(start_ms, end_ms)
        tags = tuple(dict.fromkeys(f"tag{t}" for t in _draw(rng, _CUM_TAGS,
                                                              rng.choice((0, 1, 1, 2, 3)))))
        words = [WORDS[w] for w in _draw(rng, _CUM_WORDS, rng.randint(6, 24))]
        text = " ".join(words) + "".join(f" #{t}" for t in tags)
        yield GeneratedPost(((created - EPOCH_MS) << SHIFT) | (i % (1 << SHIFT)),
                            rng.randrange(ACCOUNTS), text, tags, created)


def _draw(rng: random.Random, cumulative: list[float], k: int) -> list[int]:
    if k == 0:
        return []
    return [bisect.bisect_left(cumulative, rng.random() * cumulative[-1]) for _ in range(k)]


# -- timing helpers --------------------------------------------------------------


async def timed(run: Callable[[], Awaitable[object]], repeat: int, minimum: int,
                seconds: float) -> list[float]:
    """Latencies (ms) of ``run``: up to ``repeat`` runs or ``seconds``, at least
    ``minimum``."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < repeat and (len(samples) < minimum or time.perf_counter() < deadline):
        started = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def line(name: str, samples: list[float], raw: str = "") -> str:
    s = summarize(samples)
    return (f"  {name:34} n={s['count']:<4} p50 {s['p50']:9.1f} ms  p99 {s['p99']:9.1f} ms"
            f"{'   ' + raw if raw else ''}")


# -- 1. indexing ---------------------------------------------------------------


async def _raw_bulk(client: AsyncElasticsearch, index: str, posts: Sequence[GeneratedPost],
                    batch: int, versioned: bool) -> float:
    """Documents/s of a plain ``_bulk`` of ``posts`` in ``batch``es; ``versioned``: with
    the projector's external versions and ``refresh=true``."""
    started = time.perf_counter()
    for start in range(0, len(posts), batch):
        operations: list[dict[str, Any]] = []
        for n, item in enumerate(posts[start:start + batch], start=start + 1):
            action: dict[str, Any] = {"_index": index, "_id": str(item.post_id)}
            if versioned:
                action |= {"version": n, "version_type": "external"}
            operations += [{"index": action}, item.source()]
        answer = await client.bulk(operations=operations, refresh=versioned)
        if answer["errors"]:
            raise RuntimeError(f"raw bulk refused documents: {str(answer['items'][:2])[:300]}")
    return len(posts) / (time.perf_counter() - started)


async def indexing(url: str, count: int, batch: int, run: str) -> dict[str, float]:
    """Projector documents/s beside the raw ``_bulk`` rates (see the module)."""
    now = int(time.time() * 1000)
    posts = list(generate_posts(count, 7, now - 30 * DAY_MS, now))
    index = ElasticsearchIndex(build_client(url, 120), SearchNames(f"sbench-{run}-proj-"))
    results: dict[str, float] = {}
    try:
        await index.ensure()
        projector = SearchProjector(index)
        events = [p.envelope(n) for n, p in enumerate(posts, start=1)]
        started = time.perf_counter()
        for start in range(0, len(events), batch):
            await projector.apply_batch(events[start:start + batch])
        results["projector"] = count / (time.perf_counter() - started)
        for name, versioned in (("raw_bulk", False), ("raw_bulk_versioned_refresh", True)):
            target = f"sbench-{run}-{name.replace('_', '-')}"
            await index.client.indices.create(index=target, settings={
                "analysis": analysis("light_english")}, mappings=POSTS_MAPPING)
            results[name] = await _raw_bulk(index.client, target, posts, batch, versioned)
            await index.client.indices.delete(index=target)
        # the same plain _bulk in batches of 5,000: the server's best rate here
        target = f"sbench-{run}-raw-large"
        await index.client.indices.create(index=target, settings={
            "analysis": analysis("light_english")}, mappings=POSTS_MAPPING)
        results["raw_bulk_5000"] = await _raw_bulk(index.client, target, posts, 5000, False)
        await index.client.indices.delete(index=target)
    finally:
        await index.drop()
        await index.close()
    return results


# -- 2. search -----------------------------------------------------------------


@dataclass
class Corpus:
    """The posts loaded so far, into the index and the read models."""

    index: ElasticsearchIndex
    settings: Settings
    loaded: int = 0
    seconds_index: float = 0.0
    seconds_pg: float = 0.0


async def load_accounts(settings: Settings) -> None:
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn, \
            conn.cursor().copy(
                "COPY rm_accounts (id, aggregate_id, username, username_lower, email, "
                "display_name, created_at, version) FROM STDIN") as copy:
        for n in range(ACCOUNTS):
            copy.write_row((account_id(n), uuid.uuid4(), username(n), username(n),
                            f"{username(n)}@example.com", f"User {n}",
                            "2025-01-01T00:00:00Z", 1))


async def load_posts(corpus: Corpus, posts: Sequence[GeneratedPost], batch: int = 5000) -> None:
    """Bulk the posts straight into the posts index, and ``COPY`` them into ``rm_posts``."""
    started = time.perf_counter()
    for start in range(0, len(posts), batch):
        operations: list[dict[str, Any]] = []
        for item in posts[start:start + batch]:
            operations += [{"index": {"_index": corpus.index.names.posts_index,
                                      "_id": str(item.post_id)}}, item.source()]
        answer = await corpus.index.client.bulk(operations=operations)
        if answer["errors"]:
            raise RuntimeError(f"bulk load refused documents: {str(answer['items'][:2])[:300]}")
    await corpus.index.client.indices.refresh(index=corpus.index.names.posts_index)
    corpus.seconds_index += time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(corpus.settings.postgres_conninfo, autocommit=True) as conn, \
            conn.cursor().copy("COPY rm_posts (id, author_id, text, hashtags, created_at, "
                               "version) FROM STDIN") as copy:
        for item in posts:
            copy.write_row((item.post_id, account_id(item.author), item.text,
                            list(item.tags), _rfc3339(item.created_ms), 1))
    corpus.seconds_pg += time.perf_counter() - started
    corpus.loaded += len(posts)


def query_forms(sample: Sequence[GeneratedPost], now_ms: int) -> dict[str, list[str]]:
    """Several queries of each form, from words and tags the corpus holds."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    month_ago = today - timedelta(days=30)
    phrases = []
    for item in sample[:: max(1, len(sample) // 8)][:8]:
        words = item.text.split()
        phrases.append(f'"{words[1]} {words[2]}"')
    return {
        "word (common)": [WORDS[r] for r in (5, 12, 30, 60)],
        "word (rare)": [WORDS[r] for r in (3000, 7000, 12000, 18000)],
        "two words": [f"{WORDS[r]} {WORDS[r + 40]}" for r in (10, 50, 200, 900)],
        '"phrase"': phrases,
        "#tag": [f"#tag{t}" for t in (0, 5, 50, 500)],
        "from:user": [f"from:{username(n)}" for n in (1, 77, 555, 4321)],
        "after: before: (a month)": [f"after:{month_ago} before:{today}"],
        "words #tag from: after:": [f"{WORDS[r]} #tag{t} from:{username(n)} after:{month_ago}"
                                    for r, t, n in ((8, 3, 10), (40, 1, 20), (90, 0, 30))],
        "word #tag": [f"{WORDS[r]} #tag{t}" for r, t in ((8, 3), (40, 1), (90, 20))],
    }


@dataclass
class TimedIndex:
    """The index as ``queries.search`` sees it, timing each call to the server, so a
    query's time splits into the index's and Roost's own (grammar, hydration)."""

    index: ElasticsearchIndex
    spent_ms: float = 0.0

    async def search_posts(self, search: PostSearch) -> list[Hit]:
        started = time.perf_counter()
        try:
            return await self.index.search_posts(search)
        finally:
            self.spent_ms += (time.perf_counter() - started) * 1000

    async def search_accounts(self, search: AccountSearch) -> list[Hit]:
        return await self.index.search_accounts(search)

    async def position(self) -> int:
        return await self.index.position()


async def measure_queries(corpus: Corpus, args: argparse.Namespace,
                          sample: Sequence[GeneratedPost]) -> None:
    settings = corpus.settings
    pool = await open_pool(settings)
    client = build_async_redis(settings)
    ctx = build_queries(settings, pool, client, RedisKeys(settings.redis_prefix))
    index = corpus.index
    now_ms = int(time.time() * 1000)
    try:
        raw_words = [WORDS[r] for r in (5, 12, 30, 60)]
        turn = iter(range(10**9))

        async def raw() -> object:
            return await index.client.search(
                index=index.names.posts, size=21,
                query={"match": {"text": raw_words[next(turn) % len(raw_words)]}})

        await raw()
        raw_samples = await timed(raw, args.repeat, args.min_repeat, args.seconds)
        raw_p50 = statistics.median(raw_samples)
        print(line("raw match (text, size 21)", raw_samples))
        for form, queries in query_forms(sample, now_ms).items():
            hits: list[int] = []
            own: list[float] = []  # ms outside the index, per query
            cycle = iter(range(10**9))
            timed_index = TimedIndex(index)

            async def run(queries: list[str] = queries, cycle: Iterator[int] = cycle,
                          hits: list[int] = hits, own: list[float] = own,
                          timed_index: TimedIndex = timed_index) -> object:
                q = queries[next(cycle) % len(queries)]
                timed_index.spent_ms = 0.0
                started = time.perf_counter()
                found = await search_posts(ctx, timed_index, q, None, None, 20,
                                           now_ms=int(time.time() * 1000),
                                           half_life_days=settings.search_half_life_days)
                own.append((time.perf_counter() - started) * 1000 - timed_index.spent_ms)
                hits.append(len(found["items"]))
                return found

            samples = await timed(run, args.repeat, args.min_repeat, args.seconds)
            print(line(form, samples,
                       f"{statistics.median(samples) / raw_p50:5.1f}x raw p50; "
                       f"{statistics.mean(hits):.0f} items/page; Roost's own part p50 "
                       f"{statistics.median(own):.1f} ms"))
    finally:
        await pool.close()
        await client.aclose()


async def search(url: str, args: argparse.Namespace, settings: Settings, run: str,
                 noida_pid: int | None) -> None:
    index = ElasticsearchIndex(build_client(url, 600), SearchNames(f"sbench-{run}-"))
    corpus = Corpus(index, settings)
    now = int(time.time() * 1000)
    start = now - 365 * DAY_MS
    # one stream of posts over the last year, cut at the checkpoints (oldest first)
    stream = generate_posts(args.posts, 5, start, now)
    try:
        await index.ensure()
        await load_accounts(settings)
        sample: list[GeneratedPost] = []
        for checkpoint in sorted({c for c in args.checkpoints if c < args.posts}
                                 | {args.posts}):
            chunk = [next(stream) for _ in range(checkpoint - corpus.loaded)]
            sample = sample or chunk
            for offset in range(0, len(chunk), 50_000):
                part = chunk[offset:offset + 50_000]
                started = time.perf_counter()
                await load_posts(corpus, part)
                if len(chunk) > 50_000:
                    print(f"  loaded {corpus.loaded:,}: the last {len(part):,} at "
                          f"{len(part) / (time.perf_counter() - started):,.0f} posts/s "
                          "(index and read models)", flush=True)
            print(f"\n{corpus.loaded:,} posts: bulk-loaded straight into the index at "
                  f"{corpus.loaded / corpus.seconds_index:,.0f} docs/s (not through the "
                  f"projector), read models by COPY at "
                  f"{corpus.loaded / corpus.seconds_pg:,.0f} rows/s"
                  + (f"; noida-db RSS {rss_bytes(noida_pid, with_children=True) / 2**30:.2f}"
                     " GiB" if noida_pid else ""))
            await measure_queries(corpus, args, sample)
    finally:
        await index.drop()
        await index.close()


# -- 3. trends -----------------------------------------------------------------


def _raw_redis(settings: Settings, seconds: float = 2.0) -> dict[str, float]:
    """Bare redis-py + hiredis: pipelined commands/s (pipelines of 1,000), as ``HINCRBY``
    writes and ``HGET`` reads on scratch keys."""
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"{settings.redis_prefix}raw:"
    results: dict[str, float] = {}
    try:
        for name, command in (("write", "HINCRBY"), ("read", "HGET")):
            done = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                pipe = client.pipeline(transaction=False)
                for i in range(1000):
                    if command == "HINCRBY":
                        pipe.hincrby(f"{prefix}h{i % 500}", "w", 1)
                    else:
                        pipe.hget(f"{prefix}h{i % 500}", "w")
                pipe.execute()
                done += 1000
            results[f"{name}_commands_per_s"] = done / (time.perf_counter() - started)
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.unlink(key)
        client.close()
    return results


COMMANDS_PER_USE = 18
"""Redis commands ``trend_counters_record.lua`` runs per new tag use: SADD, EXPIRE,
for each grain (10 min, 1 h) HINCRBYFLOAT, HINCRBY, PFADD, ZINCRBY and 3 EXPIREs, then
the daily total's HINCRBYFLOAT and EXPIRE."""


def read_commands(window_s: int, candidates: int, now_s: int) -> int:
    """Redis commands of one uncached ``trending_tags`` read: the ZUNION, then (inside
    one ``trend_counters_read.lua``) per candidate one HMGET per bucket of the window,
    one PFCOUNT and one HGET per baseline counter (daily totals and a few hours)."""
    size = 600 if window_s <= 4 * 3600 else 3600
    buckets = window_s // size
    start = (now_s - window_s) // size * size + size
    start = start // HOUR_S * HOUR_S
    plan = set(hour_range(start - DAY_S, start)) | set(hour_range(start - WEEK_S, start))
    return 1 + candidates * (buckets + 1 + len(plan))


async def trends(settings: Settings, args: argparse.Namespace) -> None:
    client = build_async_redis(settings)
    counters = RedisTrendCounters(client, RedisKeys(settings.redis_prefix))
    projector = TrendsProjector(counters, settings.trends_new_account_days)
    now = int(time.time() * 1000)
    posts = list(generate_posts(args.trend_posts, 9, now - 8 * DAY_MS, now))
    events = [p.envelope(n) for n, p in enumerate(posts, start=1)]
    uses = sum(len(p.tags) for p in posts)
    try:
        raw = _raw_redis(settings)
        started = time.perf_counter()
        for start in range(0, len(events), args.batch):
            await projector.apply_batch(events[start:start + args.batch])
        seconds = time.perf_counter() - started
        per_use_raw = COMMANDS_PER_USE / raw["write_commands_per_s"] * 1e6
        print(f"\ntrends: {len(events):,} posts with {uses:,} tag uses over 8 days, "
              f"batches of {args.batch} through the trends projector")
        print(f"  recording: {uses / seconds:,.0f} uses/s ({len(events) / seconds:,.0f} "
              f"posts/s), {seconds / uses * 1e6:.1f} us per use; raw: "
              f"{raw['write_commands_per_s']:,.0f} pipelined commands/s, so "
              f"{COMMANDS_PER_USE} commands per use = {per_use_raw:.1f} us per use "
              f"({raw['write_commands_per_s'] / COMMANDS_PER_USE:,.0f} uses/s)")
        now_s = int(time.time())
        for window, window_s in WINDOWS.items():
            async def read(window: str = window) -> list[TrendingTag]:
                return await trending_tags(counters, window, now_s,
                                           min_authors=settings.trends_min_authors)

            async def cached(window: str = window) -> list[TrendingTag]:
                return await trending_tags(counters, window, now_s,
                                           min_authors=settings.trends_min_authors,
                                           cache=counters, cache_s=3600.0)

            listed = await read()
            candidates = len(await counters.candidates(now_s, window_s, CANDIDATES))
            samples = await timed(read, args.repeat, args.min_repeat, args.seconds)
            commands = read_commands(window_s, candidates, now_s)
            print(line(f"GET /api/trends/tags?window={window} (computed)", samples,
                       f"{candidates} candidates, {len(listed)} listed; "
                       f"{commands:,} commands in 2 round trips = "
                       f"{commands / raw['read_commands_per_s'] * 1000:.1f} ms at the raw "
                       f"{raw['read_commands_per_s']:,.0f} pipelined reads/s"))
            await cached()
            hits = await timed(cached, args.repeat, args.min_repeat, args.seconds)
            print(line(f"GET /api/trends/tags?window={window} (cached)", hits,
                       f"1 GET = {1 / raw['read_commands_per_s'] * 1000:.3f} ms at the raw "
                       f"pipelined rate (one round trip unpipelined is more)"))
    finally:
        await client.aclose()


# -- main ------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000,
                        help="posts in the index for the search part (100,000; 1,000,000 "
                             "with --elasticsearch-url, see above)")
    parser.add_argument("--elasticsearch-url", metavar="URL",
                        help="measure a running Elasticsearch 8 cluster (indices sbench-<run>-*,"
                             " deleted afterwards) instead of starting noida-db")
    parser.add_argument("--checkpoints", type=lambda s: [int(x) for x in s.split(",") if x],
                        default=[10_000],
                        help="also measure searches when this many are loaded (10000)")
    parser.add_argument("--index-posts", type=int, default=20_000,
                        help="posts indexed through the projector (20,000)")
    parser.add_argument("--trend-posts", type=int, default=50_000,
                        help="posts counted through the trends projector (50,000)")
    parser.add_argument("--batch", type=int, default=200,
                        help="events per projector batch, as the runner (200)")
    parser.add_argument("--repeat", type=int, default=200, help="at most this many runs per form")
    parser.add_argument("--min-repeat", type=int, default=3,
                        help="at least this many runs per form, whatever the time")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="time per form before stopping at --min-repeat (30)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("indexing", "search", "trends"), help="leave a part out")
    return parser.parse_args(argv)


async def measure(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix=f"roost-sbench-{run}-"))
    noida: subprocess.Popen[bytes] | None = None
    if args.elasticsearch_url:
        url, server = args.elasticsearch_url.rstrip("/"), "given server; indices sbench-*"
    else:
        kafka_port, es_port = devstack.free_port(), devstack.free_port()
        noida = devstack.start_noida(work / "noida", kafka_port, es_port, work / "noida.log")
        url, server = f"http://127.0.0.1:{es_port}", "noida-db, fresh data directory"
    settings = bench_settings(run, 0, 0, 0, {
        "elasticsearch_url": url, "postgres_dbname": f"roost_sbench_{run}",
        "redis_prefix": f"sbench-{run}:"})
    migrate(settings)
    print(f"bench.search run {run} on {url} ({server}); "
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    try:
        if "indexing" not in args.skip:
            results = await indexing(url, args.index_posts, args.batch, run)
            print(f"\nindexing {args.index_posts:,} new posts, batches of {args.batch}:")
            print(f"  search_index projector      {results['projector']:8,.0f} docs/s")
            for name, label in (("raw_bulk", "raw _bulk (plain)"),
                                ("raw_bulk_versioned_refresh",
                                 "raw _bulk, external versions + refresh=true"),
                                ("raw_bulk_5000", "raw _bulk (plain), batches of 5,000")):
                print(f"  {label:44} {results[name]:8,.0f} docs/s   projector = "
                      f"{results['projector'] / results[name]:.2f}x")
        if "trends" not in args.skip:
            await trends(settings, args)
        if "search" not in args.skip:  # the longest part last
            await search(url, args, settings, run, noida.pid if noida else None)
    finally:
        if noida is not None:
            devstack.stop(noida)
        drop_database(settings)
        clear_redis_prefix(settings)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    args = parse(argv)
    devstack.interrupt_on_stop_signals()
    started = time.perf_counter()
    asyncio.run(measure(args))
    print(f"\ntotal {time.perf_counter() - started:,.0f} s; 2 cores shared with other "
          f"work: compare each figure with the raw one beside it, not across runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
