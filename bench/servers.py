"""``python -m bench.servers``: uvicorn (what Roost uses) against granian, same apps.

Two apps, each served by each server in turn with the same number of processes,
driven by the bench's own open-loop load generator (``bench.loadgen``):

* ``trivial``: the trivial FastAPI endpoint of the raw limits (``bench.rawapp``),
  the ceiling of the HTTP layer;
* ``roost``: Roost's own app (``infra.http.app.create_app``) on a small loaded
  graph of its own (database, Redis prefix, noida-db), warm home-timeline reads
  with minted tokens, the bench's hot path. uvicorn serves it as ``roost api`` does
  (``python -m infra.cli api``); granian serves ``bench.servers:roost_app``, a
  factory that builds the same app from the same ``ROOST_*`` environment (with
  ``--workers N`` its N processes share one Snowflake node id, which only writes
  would notice: the workload only reads).

For each pair: requests/s at saturation (rising open-loop rates until a step
saturates, as ``make bench`` sweeps), then p50/p99 at one fixed open-loop rate
below it, with the server's CPU (its process and all its descendants: the
serving processes when there are several) in cores and milliseconds per answered
request, and the load generator's own CPU. It prints a table and writes
``bench/results/<UTC time>-servers.json``. It never asserts timings.

granian is in the ``bench`` extra only: Roost itself runs on uvicorn.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table

from bench import catchup, warmup, workloads
from bench.config import scale_named
from bench.cpu import CpuMeter, cpu_ms_per_request
from bench.graph import generate
from bench.loader import load_graph
from bench.loadgen import Fleet, Kind, Workload
from bench.report import ms, per_s, write_json
from bench.stack import BenchStack, descendants
from bench.sweeps import run_sweep, step_summary
from infra import devstack
from infra.settings import Settings

RESULTS = Path(__file__).parent / "results"
SERVERS = ("uvicorn", "granian")
APPS = ("trivial", "roost")


@dataclass(frozen=True)
class Plan:
    """The rates of one app: the saturation sweep and the fixed rate."""

    rates: tuple[int, ...]
    fixed: int


PLANS: dict[str, dict[str, Plan]] = {
    "smoke": {"trivial": Plan((500, 1_000, 2_000, 3_000), 500),
              "roost": Plan((100, 200, 400, 800), 100)},
    "default": {"trivial": Plan((500, 1_000, 2_000, 3_000, 4_000, 6_000), 1_000),
                "roost": Plan((100, 250, 500, 750, 1_000, 1_500), 250)},
}
STEP_S = {"smoke": 3.0, "default": 8.0}


def roost_app() -> FastAPI:
    """Roost's app from the ``ROOST_*`` environment, for granian's ``--factory``
    (what ``roost api`` builds for uvicorn, in ``infra.runners.run_api``)."""
    from infra.http.app import create_app
    from infra.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json, "api")
    return create_app(settings)


def command(server: str, app: str, port: int, workers: int) -> list[str]:
    """How ``server`` is started to serve ``app`` on ``port`` in ``workers`` processes.

    Both with uvloop, no access log, warnings only; uvicorn with httptools (as Roost's
    API and ``bench.rawapp``)."""
    python = sys.executable
    if server == "uvicorn":
        if app == "roost":  # exactly as in production; port and processes from ROOST_*
            return [python, "-m", "infra.cli", "api"]
        return [python, "-m", "uvicorn", "bench.rawapp:app", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    target = "bench.rawapp:app" if app == "trivial" else "bench.servers:roost_app"
    return [python, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
            "--no-access-log", "--log-level", "warning", "--no-ws",
            *(["--factory"] if app == "roost" else []), target]


class Served:
    """One server process (and its children) serving one app, for a ``with`` block."""

    def __init__(self, args: list[str], port: int, env: dict[str, str], log: Path) -> None:
        self.args, self.port, self.env, self.log = args, port, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Served:
        with open(self.log, "ab") as handle:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.args, env=self.env, stdout=handle,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not devstack.port_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.args[2:4]} exited {self.process.returncode}:\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing on port {self.port} after 60 s")
            time.sleep(0.1)
        return self

    def pids(self) -> list[int]:
        if self.process is None:
            return []
        return [self.process.pid, *descendants(self.process.pid)]

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            devstack.stop(self.process)


def measure(fleet: Fleet, served: Served, workload: Callable[[int], Workload], plan: Plan,
            warm_up: Callable[[], None]) -> dict[str, Any]:
    """Warm up, the fixed rate (p50/p99, CPU per request), then the saturation sweep."""
    warm_up()
    pids = served.pids()
    meter = CpuMeter({"api": pids})
    meter.start()
    step = fleet.run(workload(plan.fixed))
    cores = meter.stop()
    fixed = step_summary(step, "req") | {
        "server_cores": cores["api"], "machine_busy": cores["machine_busy"],
        "unattributed": cores["unattributed"],
        "server_cpu_ms_per_request": cpu_ms_per_request(meter, "api", step.completed)}
    sweep = run_sweep(fleet, workload, plan.rates, "req", meter_pids={"api": pids})
    for summary in sweep["steps"]:
        summary.pop("curve", None)
    fixed.pop("curve", None)
    # pids: the server's process and descendants when measured (granian's main process
    # and workers; uvicorn's supervisor and workers; Roost's media pool, if any).
    return {"pids": pids, "fixed": fixed, "sweep": sweep,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def trivial_workload(port: int, seconds: float) -> Callable[[int], Workload]:
    return lambda rate: Workload(port, rate, seconds, (Kind("req", 1, "GET", ("/raw",)),))


def roost_workload(port: int, tokens: tuple[str, ...], seconds: float
                   ) -> Callable[[int], Workload]:
    return lambda rate: Workload(port, rate, seconds,
                                 (Kind("req", 1, "GET", (workloads.HOME,), tokens),))


def load_roost(stack: BenchStack, accounts: int, console: Console) -> tuple[str, ...]:
    """A small graph loaded and projected (no relay, no worker: reads only); the
    minted tokens of its readers."""
    scale = scale_named("smoke", accounts=accounts)
    graph = generate(scale.accounts, scale.avg_follows, scale.avg_posts, scale.fanout_buckets,
                     scale.planted_per_bucket, seed=5)
    loaded = load_graph(stack.settings.model_dump(), graph, 2, lambda *_: None)
    rebuilt = {name: result["per_s"]
               for name, result in catchup.rebuild_projectors(stack.settings).items()}
    console.print(f"loaded {graph.size:,} accounts, {sum(graph.posts):,} posts in "
                  f"{sum(loaded.seconds.values()):.1f} s; projections rebuilt ({rebuilt} "
                  "events/s)")
    planted = {i for authors in graph.planted.values() for i in authors}
    population = workloads.population(stack.settings, loaded.account_ids, graph.usernames,
                                      min(300, graph.size // 2), 0, planted)
    return population.warm_tokens


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    plans, step_s = PLANS[args.scale], args.step_seconds or STEP_S[args.scale]
    results: dict[str, Any] = {
        "meta": {"started": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "scale": args.scale,
                 "processes": args.workers, "step_s": step_s, "cores": os.cpu_count(),
                 "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
                 "servers": versions()},
        "apps": {}}
    fleet = Fleet(2)
    stack: BenchStack | None = None
    try:
        if "trivial" in args.apps:
            for server in args.servers:
                port = devstack.free_port()
                log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-servers-{port}.log"
                with Served(command(server, "trivial", port, args.workers), port,
                            {**os.environ}, log) as served:
                    load = trivial_workload(port, step_s)
                    console.log(f"trivial endpoint on {server}")

                    def warm_trivial(load: Callable[[int], Workload] = load) -> None:
                        fleet.run(load(200))

                    results["apps"].setdefault("trivial", {})[server] = measure(
                        fleet, served, load, plans["trivial"], warm_trivial)
                log.unlink(missing_ok=True)
        if "roost" in args.apps:
            stack = BenchStack.create({"log_level": "WARNING"})
            tokens = load_roost(stack, args.accounts, console)
            for server in args.servers:
                port = devstack.free_port()
                settings = stack.settings.model_copy(
                    update={"api_port": port, "api_workers": args.workers})
                env = {**stack.env(), **settings.as_env()}
                with Served(command(server, "roost", port, args.workers), port, env,
                            stack.work_dir / f"{server}.log") as served:
                    load = roost_workload(port, tokens, step_s)
                    console.log(f"Roost's app on {server}")

                    def warm_up(port: int = port, load: Callable[[int], Workload] = load
                                ) -> None:
                        # Each reader once (their timelines kept), then every process's
                        # caches warm at a low rate.
                        warmup.warm(port, tokens)
                        fleet.run(load(50))

                    results["apps"].setdefault("roost", {})[server] = measure(
                        fleet, served, load, plans["roost"], warm_up)
    finally:
        fleet.close()
        if stack is not None:
            stack.close()
    results["meta"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("uvicorn", "granian", "uvloop", "httptools", "fastapi"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def print_table(results: dict[str, Any], console: Console) -> None:
    meta = results["meta"]
    table = Table(title=f"Servers, {meta['processes']} process(es) each; steps of "
                        f"{meta['step_s']} s; load average {meta['loadavg_at_start']} at "
                        f"start, {meta.get('loadavg_at_end')} at end", title_justify="left")
    for column in ("app", "server", "max req/s", "saturated at", "CPU ms/req at max",
                   "fixed rate", "p50 ms", "p99 ms", "server cores", "server CPU ms/req",
                   "gen cores", "gen CPU us/req", "other cores"):
        table.add_column(column, justify="right" if column not in ("app", "server") else "left")
    for app, by_server in results["apps"].items():
        for server, row in by_server.items():
            fixed, sweep = row["fixed"], row["sweep"]
            top = max(sweep["steps"], key=lambda s: s["achieved_per_s"]) if sweep["steps"] \
                else {}
            table.add_row(
                app, server, per_s(sweep["max_achieved_per_s"]),
                per_s(sweep["saturated_at"]) if sweep["saturated_at"] else
                f">{per_s(sweep['steps'][-1]['offered_per_s'])}" if sweep["steps"] else "-",
                ms(top.get("api_cpu_ms_per_request")),
                per_s(fixed["offered_per_s"]), ms(fixed["p50"]), ms(fixed["p99"]),
                f"{fixed['server_cores']:.2f}", ms(fixed["server_cpu_ms_per_request"]),
                f"{fixed['generator_cores']:.2f}",
                f"{fixed['generator_cpu_us_per_request']:.0f}",
                f"{fixed['unattributed']:.2f}")
    console.print(table)
    console.print(f"versions: {meta['servers']}. 'max req/s': the best step of the sweep "
                  "(open-loop rates rising until a step saturates), 'CPU ms/req at max' its "
                  "server CPU per answer; every other column is at the fixed rate. Server CPU "
                  "from /proc over the server's process and all its descendants; 'gen': the "
                  "load generator's own CPU; 'other cores': the machine's busy time nobody "
                  "measured (other users of a shared machine).")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(PLANS), default="default",
                        help="rates and step length (smoke: a quick check)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes per server (uvicorn: ROOST_API_WORKERS)")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    parser.add_argument("--apps", nargs="+", choices=APPS, default=list(APPS))
    parser.add_argument("--accounts", type=int, default=400,
                        help="accounts of Roost's graph (400, the smoke scale's)")
    parser.add_argument("--step-seconds", type=float, help="override each step's length")
    parser.add_argument("--report", metavar="JSON", help="print the table of an earlier run")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    devstack.interrupt_on_stop_signals()
    console = catchup.wide_console()
    if args.report:
        print_table(orjson.loads(Path(args.report).read_bytes()), console)
        return 0
    results = run(args, console)
    print_table(results, console)
    path = RESULTS / f"{results['meta']['started']}-servers.json"
    write_json(results, path)
    console.print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
