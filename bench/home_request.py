"""``python -m bench.home_request``: what one warm ``GET /api/timelines/home`` costs the
API, in process: CPU milliseconds per read and Redis round trips per read, for
before/after figures of a change to the request path (rate limit, token check,
timeline reads, hydration).

The world is ``bench.home_read``'s (a database and Redis prefix of the run's own,
dropped afterwards). The real app (``infra.http.app.create_app``, its lifespan
started) is driven through an in-process ASGI client, so no HTTP server and no
socket: the CPU figure is this process's (``time.process_time``: the app, the
ASGI client and redis-py/psycopg; the client's share is the same before and after),
over ``reads`` sequential first pages of 20 by the readers in turn, after two
warming rounds. Round trips are counted on every Redis connection
(``tests.redis_round_trips``) over one more read per reader. Run it under
``py-spy record -o out.txt --format raw -- python -m bench.home_request`` for a
profile.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.home_read import bench_settings, caught_up, small_world, world_arguments
from bench.stats import summarize


@asynccontextmanager
async def app_client(settings: Any, actors: list[Any]
                     ) -> AsyncIterator[tuple[Any, list[dict[str, str]]]]:
    """The real app over ``settings`` (its lifespan started, every projector but search's
    caught up first) behind an in-process ASGI client: ``(client, headers)``, a bearer
    token's headers for each of ``actors`` (``commands.messages.Actor``)."""
    import httpx

    from infra.bootstrap import build_projections
    from infra.http.app import create_app
    from infra.security import JwtTokens

    services = await build_projections(settings)
    try:
        await caught_up(settings, services)
    finally:
        await services.close()
    tokens = JwtTokens(settings)
    headers = [{"Authorization": "Bearer " + tokens.access_token(
        a.account_id, a.username, a.session_id)} for a in actors]
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://roost.test", timeout=30) as client:
        yield client, headers


async def _measure(settings: Any, reads: int, readers: list[Any]) -> dict[str, Any]:
    from tests.redis_round_trips import counting_round_trips

    async with app_client(settings, readers) as (client, headers):

        async def read(n: int) -> None:
            answer = await client.get("/api/timelines/home?limit=20",
                                      headers=headers[n % len(headers)])
            assert answer.status_code == 200 and answer.json()["items"], answer.text

        for n in range(2 * len(headers)):  # warm: kept, scripts loaded, posts cached
            await read(n)
        with counting_round_trips() as trips:
            for n in range(len(headers)):
                await read(n)
        per_read = len(trips) / len(headers)
        shapes = Counter(" ".join(sorted(set(names))) for names in trips.sent)
        latencies: list[float] = []
        cpu_started = time.process_time()
        for n in range(reads):
            started = time.perf_counter()
            await read(n)
            latencies.append((time.perf_counter() - started) * 1000)
        cpu_ms = (time.process_time() - cpu_started) * 1000 / reads
    summary = summarize(latencies)
    return {"reads": reads, "cpu_ms_per_read": round(cpu_ms, 3),
            "redis_round_trips_per_read": per_read,
            "round_trips": {k: v / len(headers) for k, v in shapes.most_common()},
            **{k: summary[k] for k in ("p50", "p99", "mean")}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.home_request", description=__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    world_arguments(parser)
    args = parser.parse_args()
    settings = bench_settings("homereq", args.readers if args.celebrities else 0,
                              log_level="WARNING")
    with small_world(settings, args.readers, args.authors, args.posts,
                     args.celebrities) as readers:
        print(asyncio.run(_measure(settings, args.reads, readers)))


if __name__ == "__main__":
    main()
