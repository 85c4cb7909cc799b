"""``python -m bench.catchup``: how fast each projector rebuilds from the event store.

Loads a generated graph through the command layer into a database of its own,
then rebuilds each projector in this process from the first event, one after
the other (so each has the machine), the way ``roost projections rebuild``
does. No Kafka, no API: the projectors' own throughput, which bounds how
fast a worker catches up after an outage and how long a rebuild takes.
Prints events/s per projector; never asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.graph import generate
from bench.loader import load_graph
from bench.stack import bench_settings, clear_redis_prefix
from infra.bootstrap import build_projections, build_runner
from infra.database import drop_database, migrate
from infra.eventlog import max_position
from infra.settings import Settings


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.catchup", description=__doc__)
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--follows", type=float, default=50.0,
                        help="average follows per account")
    parser.add_argument("--posts", type=float, default=1.5, help="average posts per account")
    parser.add_argument("--projector", action="append", choices=("read_models", "timelines"),
                        help="only these (default: both)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database and keys")
    return parser.parse_args(argv)


async def _rebuild(settings: Settings, name: str) -> dict[str, Any]:
    services = await build_projections(settings)
    try:
        runner = build_runner(settings, services, name)
        await runner.reset()
        async with services.pool.connection() as conn:
            target = await max_position(conn)
            cur = await conn.execute("SELECT topic, COUNT(*) FROM roost_events GROUP BY topic")
            kinds = Counter({str(t).rsplit(".", 1)[-1]: int(n) for t, n in await cur.fetchall()})
        started = time.perf_counter()
        cpu = time.process_time()
        applied = await runner.catch_up(target)
        seconds = time.perf_counter() - started
        return {"projector": name, "events": applied, "seconds": round(seconds, 2),
                "per_s": round(applied / seconds, 1) if seconds else 0.0,
                "cpu_s": round(time.process_time() - cpu, 2), "kinds": dict(kinds)}
    finally:
        await services.close()


def main(argv: list[str]) -> int:
    args = parse(argv)
    console = Console()
    run = uuid.uuid4().hex[:8]
    settings = bench_settings(run, 0, 0, 0)
    migrate(settings)
    try:
        graph = generate(args.accounts, args.follows, args.posts, (10, 1_000),
                         planted_per_bucket=1, seed=args.seed)
        with Progress(console=console, transient=True) as progress:
            tasks: dict[str, Any] = {}

            def advance(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(f"load {phase}", total=max(1, total))
                progress.update(tasks[phase], completed=done)

            loaded = load_graph(settings.model_dump(), graph, 2, advance)
        console.print(f"loaded {graph.stats()['follows']:,} follows, {sum(graph.posts):,} "
                      f"posts for {graph.size:,} accounts: {loaded.rates} per s")
        table = Table(title="projector rebuild from the event store (in-process)")
        for column in ("projector", "events", "seconds", "events/s", "CPU s (this process)"):
            table.add_column(column, justify="right")
        for name in args.projector or ("read_models", "timelines"):
            result = asyncio.run(_rebuild(settings, name))
            table.add_row(name, f"{result['events']:,}", f"{result['seconds']:.1f}",
                          f"{result['per_s']:,.0f}", f"{result['cpu_s']:.1f}")
        console.print(table)
        console.print(f"events by type: {result['kinds']}")
    finally:
        if not args.keep:
            drop_database(settings)
            clear_redis_prefix(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
