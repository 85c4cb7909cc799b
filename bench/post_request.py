"""``python -m bench.post_request``: what one ``POST /api/posts`` costs the API, in process:
CPU milliseconds per post and Redis round trips per post, for before/after figures of a
change to the write path (middlewares, rate limit, token check, command, answer).

A database and Redis prefix of the run's own (``bench.home_read.bench_settings``,
dropped afterwards) with ``--authors`` accounts, projected once so the read models
know them. The real app (``infra.http.app.create_app``, its lifespan started) is
driven through an in-process ASGI client (no HTTP server, no socket, no worker: the
posts are not projected meanwhile): ``--concurrency`` callers post in turn, so the
group commit groups as under a load. The CPU figure is this process's
(``time.process_time``: the app, its command threads, the ASGI client,
redis-py/psycopg; the client's share is the same before and after) over ``--posts``
posts after a warm-up. Round trips are counted on every Redis connection over 20
more posts, one at a time. Run it under ``py-spy record -o out.txt --format raw --
python -m bench.post_request`` for a profile; compare two trees by interleaved runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.home_read import bench_settings
from bench.home_request import app_client


async def _measure(settings: Any, authors: list[Any], posts: int, concurrency: int
                   ) -> dict[str, Any]:
    from tests.redis_round_trips import counting_round_trips

    sent = [0]
    async with app_client(settings, authors) as (client, headers):

        async def post(count: int) -> None:
            for _ in range(count):
                n = sent[0]
                sent[0] += 1
                answer = await client.post("/api/posts", headers=headers[n % len(headers)],
                                           json={"text": f"post {n} of the bench #bench"})
                assert answer.status_code == 201, answer.text

        await asyncio.gather(*(post(2 * len(headers) // concurrency + 1)
                               for _ in range(concurrency)))  # warm: pools, scripts
        with counting_round_trips() as trips:
            await post(20)
        each = posts // concurrency
        cpu_started, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(post(each) for _ in range(concurrency)))
        cpu_ms = (time.process_time() - cpu_started) * 1000 / (each * concurrency)
        wall_ms = (time.perf_counter() - started) * 1000 / (each * concurrency)
    return {"posts": each * concurrency, "concurrency": concurrency,
            "cpu_ms_per_post": round(cpu_ms, 3), "wall_ms_per_post": round(wall_ms, 3),
            "redis_round_trips_per_post": len(trips) / 20}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.post_request", description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--authors", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    settings = bench_settings("postreq", log_level="WARNING")
    with _authors(settings, args.authors) as authors:
        print(asyncio.run(_measure(settings, authors, args.posts, args.concurrency)))


def _authors(settings: Any, count: int) -> Any:
    """``count`` signed-up accounts to post as (``bench.home_read.small_world``'s
    readers, with no authors to follow), dropped afterwards."""
    from bench.home_read import small_world

    return small_world(settings, count, 0, 0)


if __name__ == "__main__":
    main()
