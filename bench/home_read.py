"""``python -m bench.home_read``: the latency of one home-timeline read in-process
(``queries.timelines.home_timeline`` on the composition root's query context, the
real Redis and PostgreSQL, no HTTP), for before/after figures of a change to the
read path.

It builds a small world in a database and Redis prefix of its own (``readers``
accounts following ``authors`` accounts that posted ``posts`` posts each), keeps
every reader's timeline, then reads a first page of 20 for the readers in turn,
``reads`` times, one at a time, and prints the summary (ms), the API's CPU per read
(``cpu_ms``: this process's CPU time over the reads, divided by their number)
and the PostgreSQL connections it took per read (``pg_per_read``: each at
least one round trip). ``--no-facts-cache`` reads the page facts from
PostgreSQL (``page_rows``) as before the facts cache. Everything it made is
dropped afterwards. A short run (a few seconds): other work shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.stats import summarize


async def caught_up(settings: Any, services: Any) -> None:
    """Every projector but search's caught up with the event store (``services``: the
    composition root's projection services)."""
    from infra.bootstrap import build_runner
    from infra.eventlog import max_position

    async with services.pool.connection() as conn:
        head = await max_position(conn)
    for name in services.projectors:
        if name != "search_index":
            await build_runner(settings, services, name).catch_up(head)


async def _measure(settings: Any, reads: int, readers: list[int], facts_cache: bool = True
                   ) -> dict[str, Any]:
    from infra.bootstrap import build_projections, build_queries
    from infra.redis_keys import RedisKeys
    from queries.timelines import home_timeline, keep_timeline

    services = await build_projections(settings)
    try:
        await caught_up(settings, services)
        ctx = build_queries(settings, services.pool, services.redis,
                            RedisKeys(settings.redis_prefix))
        if not facts_cache:
            ctx = dataclasses.replace(ctx, facts=None)
        pool = services.pool
        checkouts = [0]
        take = pool.connection

        def counted(*args: Any, **kwargs: Any) -> Any:
            checkouts[0] += 1
            return take(*args, **kwargs)

        pool.connection = counted  # type: ignore[method-assign]
        for reader in readers:
            await keep_timeline(ctx, reader)
        for reader in readers:  # warm: scripts loaded, post bodies cached
            await home_timeline(ctx, reader, None, 20)
        latencies: list[float] = []
        checkouts[0], cpu = 0, time.process_time()
        for n in range(reads):
            started = time.perf_counter()
            page = await home_timeline(ctx, readers[n % len(readers)], None, 20)
            latencies.append((time.perf_counter() - started) * 1000)
            assert page["items"], "an empty home page"
        cpu_ms = (time.process_time() - cpu) * 1000 / reads
        return {**summarize(latencies), "cpu_ms": round(cpu_ms, 3),
                "pg_per_read": checkouts[0] / reads}
    finally:
        await services.close()


def bench_settings(name: str, readers: int = 0, **more: Any) -> Any:
    """Settings of a database and Redis prefix of the run's own (cheap passwords, no
    rate limit in the way); with ``readers``, a celebrity threshold of ``readers``
    followers (``small_world``'s celebrities pass it, its authors do not)."""
    from infra.settings import Settings

    run = uuid.uuid4().hex[:8]
    if readers:
        more["celebrity_threshold"] = readers
    return Settings(postgres_dbname=f"roost_bench_{name}_{run}",
                    redis_prefix=f"roost-bench-{name}-{run}:", argon2_time_cost=1,
                    argon2_memory_kib=8192, argon2_parallelism=1,
                    rate_limit_multiplier=1000.0, **more)


@contextmanager
def small_world(settings: Any, readers: int, authors: int, posts: int, celebrities: int = 0
                ) -> Iterator[list[Any]]:
    """The world (``readers`` following ``authors`` and ``celebrities``, with ``posts``
    posts each) in the settings' database and prefix, made and dropped: the readers'
    ``Actor``s. A celebrity has one follower more than the readers (a ``fan``): with
    ``bench_settings(..., readers)`` it is one, the authors are not."""
    import redis

    from commands.messages import Actor, CreatePost, Login, RegisterAccount, SetFollow
    from infra.bootstrap import build_command_bus, close_command_bus
    from infra.database import drop_database, migrate

    migrate(settings)
    bus = build_command_bus(settings)
    try:
        def signup(name: str) -> Actor:
            made = bus.handle(RegisterAccount(username=name, email=f"{name}@example.com",
                                              password="bench password", display_name=name))
            session = str(bus.handle(Login(login=name, password="bench password")
                                     ).data["refresh_token"]).split(".", 1)[0]
            return Actor(account_id=int(made.data["id"]), username=name, session_id=session)

        writers = [signup(f"author{i}") for i in range(authors)]
        stars = [signup(f"celebrity{i}") for i in range(celebrities)]
        found = [signup(f"reader{i}") for i in range(readers)]
        fans = [signup("fan")] if stars else []
        for fan in fans:
            for star in stars:
                bus.handle(SetFollow(actor=fan, username=star.username, active=True))
        writers += stars
        for reader in found:
            for author in writers:
                bus.handle(SetFollow(actor=reader, username=author.username, active=True))
        for n in range(posts):
            for author in writers:
                bus.handle(CreatePost(actor=author, text=f"post {n} of {author.username}"))
        yield found
    finally:
        close_command_bus(bus)
        drop_database(settings)
        client = redis.Redis.from_url(settings.redis_url)
        for key in client.scan_iter(match=f"{settings.redis_prefix}*", count=1000):
            client.unlink(key)
        client.close()


def world_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--authors", type=int, default=10)
    parser.add_argument("--posts", type=int, default=10, help="posts per author")
    parser.add_argument("--celebrities", type=int, default=0,
                        help="accounts every reader follows, above the celebrity threshold")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.home_read", description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    world_arguments(parser)
    parser.add_argument("--no-facts-cache", action="store_true",
                        help="read the page facts from PostgreSQL (page_rows), not Redis")
    args = parser.parse_args()
    settings = bench_settings("home", args.readers if args.celebrities else 0)
    with small_world(settings, args.readers, args.authors, args.posts,
                     args.celebrities) as readers:
        summary = asyncio.run(_measure(settings, args.reads,
                                       [r.account_id for r in readers],
                                       facts_cache=not args.no_facts_cache))
        print({k: summary[k] for k in ("count", "p50", "p95", "p99", "mean", "cpu_ms",
                                       "pg_per_read")})


if __name__ == "__main__":
    main()
