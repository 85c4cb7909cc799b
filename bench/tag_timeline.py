"""``python -m bench.tag_timeline [--posts N]``: where should tag timelines be served from?

Measures one page (20 ids, newest first, after a cursor) of a tag timeline from
three places, over the same posts:

* ``index``: the search index (``ElasticsearchIndex.search_posts``, order newest,
  a ``tags`` filter, ``search_after``) on a fresh noida-db;
* ``pg_gin``: ``rm_posts`` as it is, plus a GIN index on ``hashtags``
  (``hashtags @> ARRAY[tag] AND id < cursor ORDER BY id DESC LIMIT 21``);
* ``pg_tags``: the read model ``rm_post_tags`` and the statement of
  ``PostgresReadModelReader.tagged_post_ids`` (``infra.read_model_reader``, a
  range scan of its primary key ``(tag, post_id)``): what the API serves tag
  timelines from.

Tags are drawn from a Zipf-like law, so there is one very common tag, a few
common ones and a long tail. Prints p50/p99 in ms per source and tag kind.
Writes nothing outside its own temporary database, noida data directory and
index prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg

from infra import devstack
from infra.database import drop_database, migrate
from infra.read_model_reader import _TAGGED
from infra.search_index import ElasticsearchIndex, build_client
from infra.search_schema import SearchNames
from infra.settings import Settings
from ports.search import PostSearch

TAGS = 2000
EPOCH_MS = 1_767_225_600_000  # 2026-01-01


def _tag(rng: random.Random) -> str:
    return f"tag{min(int(rng.paretovariate(0.8)) - 1, TAGS - 1)}"


def _posts(count: int, seed: int) -> list[tuple[int, list[str]]]:
    rng = random.Random(seed)
    posts = []
    for i in range(count):
        post_id = ((i * 1000) << 22) | 1  # Snowflake-like, increasing
        posts.append((post_id, sorted({_tag(rng) for _ in range(rng.randint(1, 3))})))
    return posts


async def _load_index(index: ElasticsearchIndex, posts: list[tuple[int, list[str]]]) -> None:
    await index.ensure()
    for start in range(0, len(posts), 5000):
        operations: list[dict[str, object]] = []
        for post_id, tags in posts[start:start + 5000]:
            created = EPOCH_MS + (post_id >> 22)
            operations += [{"index": {"_index": index.names.posts_index, "_id": str(post_id)}},
                           {"post_id": post_id, "author_id": 1, "author_username": "a",
                            "author_display_name": "A", "author_position": 1, "text": "x",
                            "hashtags": tags, "mentions": [], "created_ms": created,
                            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                        time.gmtime(created / 1000)),
                            "deleted": False}]
        await index.client.bulk(operations=operations)
    await index.client.indices.refresh(index=index.names.posts_index)


def _load_postgres(settings: Settings, posts: list[tuple[int, list[str]]]) -> None:
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        with conn.cursor().copy(
                "COPY rm_posts (id, author_id, text, hashtags, created_at, version) "
                "FROM STDIN") as copy:
            for post_id, tags in posts:
                copy.write_row((post_id, 1, "x", tags, "2026-01-01T00:00:00Z", 1))
        conn.execute("CREATE INDEX rm_posts_hashtags_gin ON rm_posts USING gin (hashtags)")
        with conn.cursor().copy("COPY rm_post_tags (tag, post_id, author_id) FROM STDIN"
                                ) as copy:
            for post_id, tags in posts:
                for tag in tags:
                    copy.write_row((tag, post_id, 1))
        conn.execute("ANALYZE rm_posts")
        conn.execute("ANALYZE rm_post_tags")


async def _timed(run: Callable[[], Awaitable[object]], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"p50 {statistics.median(ordered):7.2f} ms   "
            f"p99 {ordered[int(len(ordered) * 0.99) - 1]:7.2f} ms")


async def measure(count: int, repeat: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="roost-tagbench-"))
    kafka_port, es_port = devstack.free_port(), devstack.free_port()
    noida = devstack.start_noida(work / "noida", kafka_port, es_port, work / "noida.log")
    settings = Settings(environment="development",
                        postgres_dbname=f"roost_tagbench_{uuid.uuid4().hex[:8]}")
    migrate(settings)
    index = ElasticsearchIndex(build_client(f"http://127.0.0.1:{es_port}", 60),
                               SearchNames("tagbench-"))
    try:
        posts = _posts(count, seed=5)
        counts: dict[str, int] = {}
        for _, tags in posts:
            for tag in tags:
                counts[tag] = counts.get(tag, 0) + 1
        ranked = sorted(counts, key=counts.get, reverse=True)  # type: ignore[arg-type]
        kinds = {"most common": ranked[0], "common": ranked[10], "rare": ranked[len(ranked) // 2]}
        start = time.perf_counter()
        await _load_index(index, posts)
        print(f"loaded {count} posts into the index in {time.perf_counter() - start:.1f}s")
        _load_postgres(settings, posts)
        cursor = posts[len(posts) // 2][0]  # a page from the middle of the history
        async with await psycopg.AsyncConnection.connect(settings.postgres_conninfo) as conn:
            for kind, tag in kinds.items():
                print(f"{kind} tag {tag!r}: {counts[tag]} posts")
                async def from_index(tag: str = tag) -> object:
                    return await index.search_posts(PostSearch(
                        tags=(tag,), order="newest", after=(cursor,), size=21))

                async def from_gin(tag: str = tag) -> object:
                    return await conn.execute(
                        "SELECT id FROM rm_posts WHERE hashtags @> ARRAY[%s] AND id < %s "
                        "AND deleted_at IS NULL ORDER BY id DESC LIMIT 21", (tag, cursor))

                async def from_tags(tag: str = tag) -> object:
                    return await conn.execute(_TAGGED, (tag, cursor, [], 21))

                sources: dict[str, Callable[[], Awaitable[object]]] = {
                    "index": from_index, "pg_gin": from_gin, "pg_tags": from_tags}
                for name, run in sources.items():
                    await run()  # warm
                    print(f"  {name:8} {_summary(await _timed(run, repeat))}")
    finally:
        await index.close()
        drop_database(settings)
        devstack.stop(noida)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(measure(args.posts, args.repeat))


if __name__ == "__main__":
    main()
