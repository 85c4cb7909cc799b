"""``python -m bench.catchup``: how fast each projector rebuilds from the event store.

Loads a generated graph through the command layer into a database of its own,
then rebuilds each projector from the first event, the way ``roost
projections rebuild`` does: one after the other (each has the machine) or,
with ``--parallel``, at once, one process each. No Kafka, no API: the
projectors' own throughput, which bounds how fast a worker catches up after
an outage and how long a rebuild takes. With ``--blue-green`` each projection that
has copies is rebuilt the way ``roost projections rebuild`` now does it
(``infra.rebuild``: a new copy filled in pages of ``ROOST_REBUILD_PAGE`` events, then
switched to); the others in place, and the table says which. Beside the rates: the
raw single-row insert transaction rate, the raw COPY rate and the rate at which the
event store's log is read and decoded by position (what every rebuild reads).
``python -m bench`` builds the projections of its bulk load with the parallel
rebuild. Prints events/s per projector beside the raw limits of the block
underneath; never asserts timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import multiprocessing as mp
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench import rawlimits
from bench.graph import generate
from bench.loader import load_graph
from bench.stack import bench_settings, clear_redis_prefix
from infra.bootstrap import build_projections
from infra.database import drop_database, migrate, open_pool
from infra.eventlog import read_envelopes
from infra.operations import rebuild
from infra.rebuild import rebuild as blue_green_rebuild
from infra.rebuild import rebuildable
from infra.settings import Settings
from ports.projectors import PROJECTORS, SEARCH


def graph_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--accounts``, ``--follows``, ``--posts``: the graph ``bench_database`` loads."""
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--follows", type=float, default=50.0,
                        help="average follows per account")
    parser.add_argument("--posts", type=float, default=1.5, help="average posts per account")
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    parser = graph_arguments(argparse.ArgumentParser(prog="python -m bench.catchup",
                                                     description=__doc__))
    parser.add_argument("--projector", action="append", choices=PROJECTORS,
                        help="only these (default: every projector; search_index only "
                             "with --elasticsearch-url)")
    parser.add_argument("--elasticsearch-url", metavar="URL",
                        help="an Elasticsearch(-compatible) server for the search_index "
                             "projector (bench.catchup starts none)")
    parser.add_argument("--parallel", action="store_true",
                        help="rebuild the projectors at the same time, one process each")
    parser.add_argument("--blue-green", action="store_true",
                        help="rebuild beside the live copy and switch (infra.rebuild), "
                             "where the projection has copies")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true",
                        help="keep the database and keys, to --reuse them")
    parser.add_argument("--reuse", metavar="RUN",
                        help="rebuild from a kept run's database (roost_bench_RUN), no load")
    return parser.parse_args(argv)


async def _rebuild(settings: Settings, name: str, blue_green: bool = False) -> dict[str, Any]:
    """``roost projections rebuild NAME``, timed: blue-green (a new copy, then the
    switch) when asked and the projection has copies, else in place (reset, replay,
    ANALYZE)."""
    services = await build_projections(settings)
    mode = "blue-green" if blue_green and rebuildable(name) else "in place"
    try:
        started = time.perf_counter()
        cpu = time.process_time()
        if mode == "blue-green":  # nothing reads the old copy: retire it at once
            quick = settings.model_copy(update={"rebuild_retire_grace_s": 0.0})
            applied = (await blue_green_rebuild(quick, services, name)).events
        else:
            applied = await rebuild(settings, services, name, Console(file=io.StringIO()))
        seconds = time.perf_counter() - started
    finally:
        await services.close()
    return {"projector": name, "events": applied, "seconds": round(seconds, 2),
            "per_s": round(applied / seconds, 1) if seconds else 0.0,
            "cpu_s": round(time.process_time() - cpu, 2), "mode": mode}


def _rebuild_in_process(job: tuple[dict[str, Any], str, bool]) -> dict[str, Any]:
    values, name, blue_green = job
    return asyncio.run(_rebuild(Settings(**values), name, blue_green))


async def read_log(settings: Settings) -> dict[str, Any]:
    """Read and decode the whole log by position, in rebuild-sized pages: events/s."""
    pool = await open_pool(settings, max_size=1)
    try:
        started = time.perf_counter()
        count = after = 0
        async with pool.connection() as conn:
            while page := await read_envelopes(conn, after, limit=settings.rebuild_page):
                count += len(page)
                after = page[-1].position
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return {"events": count, "per_s": round(count / seconds) if seconds else 0}


def rebuild_projectors(settings: Settings, names: Sequence[str] = PROJECTORS,
                       parallel: bool = True, waiting: Callable[[], None] = lambda: None,
                       blue_green: bool = False) -> dict[str, dict[str, Any]]:
    """Rebuild each projector from the first event; with ``parallel``, one process each
    at the same time (the machine's cores shared), else one after the other.
    ``waiting`` is called about twice a second meanwhile (a progress bar)."""
    jobs = [(settings.model_dump(), name, blue_green) for name in names]
    with mp.get_context("spawn").Pool(len(jobs) if parallel else 1) as pool:
        pending = pool.map_async(_rebuild_in_process, jobs)
        while not pending.ready():
            waiting()
            pending.wait(0.5)
        return dict(zip(names, pending.get(), strict=True))


def event_counts(settings: Settings) -> dict[str, int]:
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute("SELECT topic, COUNT(*) FROM roost_events GROUP BY topic").fetchall()
    return {str(topic).rsplit(".", 1)[-1]: int(n) for topic, n in rows}


def _load(settings: Settings, args: argparse.Namespace, console: Console) -> None:
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
                  f"posts for {graph.size:,} accounts in {sum(loaded.seconds.values()):,.1f} s "
                  f"({loaded.seconds} s): {loaded.rates} per s")


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages, to print beside a run's figures
    (other work on the machine shares its cores)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def wide_console() -> Console:
    """A console whose tables are not cut to 80 columns when the output is piped."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


@contextlib.contextmanager
def bench_database(args: argparse.Namespace, console: Console,
                   overrides: dict[str, Any] | None = None) -> Iterator[Settings]:
    """The settings of a database of its own, loaded with ``args``' graph (``--accounts``,
    ``--follows``, ``--posts``, ``--seed``) or a kept one (``--reuse RUN``); dropped
    afterwards unless ``--keep`` or ``--reuse``. Shared by ``bench.catchup`` and
    ``bench.export``."""
    run = args.reuse or uuid.uuid4().hex[:8]
    settings = bench_settings(run, 0, 0, 0, overrides)
    migrate(settings)
    try:
        if not args.reuse:
            _load(settings, args, console)
        console.print(f"load average (1 / 5 / 15 min) before the measurements: "
                      f"{load_average()}")
        yield settings
        console.print(f"load average after: {load_average()}")
        console.print(f"events by type: {event_counts(settings)}")
    finally:
        if args.keep or args.reuse:
            console.print(f"kept: --reuse {run}")
        else:
            drop_database(settings)
            clear_redis_prefix(settings)


def main(argv: list[str]) -> int:
    args = parse(argv)
    console = wide_console()
    overrides = {"elasticsearch_url": args.elasticsearch_url} if args.elasticsearch_url \
        else {}
    wanted = args.projector or [name for name in PROJECTORS
                                if name != SEARCH or args.elasticsearch_url]
    with bench_database(args, console, overrides) as settings:
        mode = "in parallel" if args.parallel else "one after the other"
        table = Table(title=f"projector rebuild from the event store ({mode})")
        raw = rawlimits.postgres_insert(settings)["tx_per_s"]
        copy_rate = rawlimits.postgres_copy(settings)["rows_per_s"]
        log_read = asyncio.run(read_log(settings))
        for column in ("projector", "mode", "events", "seconds", "events/s", "CPU s",
                       "vs raw PG tx/s", "vs raw COPY rows/s", "vs log read events/s"):
            table.add_column(column, justify="right")
        results = rebuild_projectors(settings, wanted, args.parallel,
                                     blue_green=args.blue_green)
        for name, result in results.items():
            table.add_row(name, result["mode"], f"{result['events']:,}",
                          f"{result['seconds']:.1f}", f"{result['per_s']:,.0f}",
                          f"{result['cpu_s']:.1f}",
                          f"{result['per_s'] / max(1, raw):.1f}x of {raw:,}/s",
                          f"{result['per_s'] / max(1, copy_rate):.2f}x of {copy_rate:,}/s",
                          f"{result['per_s'] / max(1, log_read['per_s']):.2f}x of "
                          f"{log_read['per_s']:,}/s")
        console.print(table)
        console.print("raw limits, measured before the rebuilds: single-row insert "
                      "transactions on one connection (bench.rawlimits.postgres_insert); "
                      "COPY of 200,000 event-shaped rows in one transaction "
                      "(bench.rawlimits.postgres_copy); the whole log read and decoded by "
                      f"position in pages of {settings.rebuild_page:,} "
                      f"({log_read['events']:,} events, one connection)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
