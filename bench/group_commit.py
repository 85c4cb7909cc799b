"""``python -m bench.group_commit``: concurrent post creation with and without group commit.

``--threads`` threads (the API's thread pool runs commands this way) each run
``CommandBus.handle(CreatePost)`` back to back for ``--seconds``, on PostgreSQL (a
database of its own per run, dropped afterwards), once with group commit off
(``ROOST_GROUP_COMMIT_MAX_WRITES=1``: one transaction per command, as before) and
once on (the default), alternating for ``--rounds`` rounds because the machine is
shared. Printed per run: posts/s, latency p50/p99 (ms, one command), process CPU
per post (ms) and the mean commands per transaction; beside them the raw limit of
the block underneath: event-shaped single-row INSERT transactions per second on
one connection, bare psycopg (``bench.rawlimits.postgres_insert``). Never asserts
timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from typing import Any

from bench.rawlimits import postgres_insert
from bench.stack import bench_settings, clear_redis_prefix
from bench.stats import summarize
from infra.database import drop_database, migrate
from infra.metrics import GROUP_COMMIT_SIZE


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.group_commit", description=__doc__)
    parser.add_argument("--threads", type=int, default=16, help="concurrent commands (16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each run's length (5)")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs (3)")
    return parser.parse_args(argv)


def _group_totals() -> tuple[float, float]:
    """(transactions, commands) the group-commit histogram has seen in this process."""
    count = total = 0.0
    for metric in GROUP_COMMIT_SIZE.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return count, total


def run(max_writes: int, threads: int, seconds: float) -> dict[str, Any]:
    """One run on a fresh database: the figures of the docstring."""
    from commands.messages import Actor, CreatePost, RegisterAccount
    from infra.bootstrap import build_command_bus, close_command_bus

    settings = bench_settings(uuid.uuid4().hex[:8], 0, 0, 0, {
        "log_level": "WARNING", "group_commit_max_writes": max_writes,
        "postgres_pool_size": threads})
    migrate(settings)
    bus = build_command_bus(settings)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    try:
        actors = []
        for n in range(threads):
            signed_up = bus.handle(RegisterAccount(f"bench_{n}", f"b{n}@bench.example.com",
                                                   "bench-password", "Bench"))
            actors.append(Actor(int(signed_up.data["id"]), f"bench_{n}", f"bench-{n}"))
        start = threading.Barrier(threads + 1)
        deadline = 0.0

        def post(n: int) -> None:
            start.wait()
            mine = latencies[n]
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                bus.handle(CreatePost(actors[n], "a post about #roost, some sixty characters."))
                mine.append((time.perf_counter() - began) * 1000)

        workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        transactions, commands = _group_totals()
        deadline = time.perf_counter() + seconds
        cpu = time.process_time()
        began = time.perf_counter()
        start.wait()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - cpu
        after_transactions, after_commands = _group_totals()
    finally:
        close_command_bus(bus)
        drop_database(settings)
        clear_redis_prefix(settings)
    every = [latency for mine in latencies for latency in mine]
    grouped = after_transactions - transactions
    return {"posts_per_s": len(every) / elapsed, **summarize(every),
            "cpu_ms_per_post": cpu / max(len(every), 1) * 1000,
            "commands_per_tx": (after_commands - commands) / grouped if grouped else 1.0}


def main(argv: list[str]) -> int:
    args = parse(argv)
    settings = bench_settings(uuid.uuid4().hex[:8], 0, 0, 0, {"log_level": "WARNING"})
    migrate(settings)
    try:
        raw = postgres_insert(settings)
    finally:
        drop_database(settings)
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for label, max_writes in (("off", 1), ("on", 256)):
            figures = run(max_writes, args.threads, args.seconds)
            results[label].append(figures)
            print(f"group commit {label:>3}: {figures['posts_per_s']:7.0f} posts/s  "
                  f"p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms  "
                  f"{figures['cpu_ms_per_post']:.3f} ms CPU/post  "
                  f"{figures['commands_per_tx']:.1f} commands/tx", flush=True)
    for label, runs in results.items():
        rate = statistics.median(r["posts_per_s"] for r in runs)
        p99 = statistics.median(r["p99"] for r in runs)
        print(f"median, group commit {label}: {rate:.0f} posts/s, p99 {p99:.1f} ms "
              f"({rate / raw['tx_per_s']:.2f} of the raw limit)")
    print(f"raw limit: {raw['tx_per_s']} single-row INSERT transactions/s on one connection "
          f"(p50 {raw['p50']:.2f} ms, p99 {raw['p99']:.2f} ms; bare psycopg)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
