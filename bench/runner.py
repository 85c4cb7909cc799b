"""The benchmark run: set up, measure each path and its raw limit, report, clean up."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import catchup, fanout, memory, pipeline, profiling, rawlimits, warmup, workloads
from bench.config import Scale
from bench.cpu import CpuMeter, cpu_ms_per_request, postgres_pids
from bench.graph import Graph, generate
from bench.loader import load_graph
from bench.loadgen import Fleet
from bench.machine import machine_info, redis_pid, server_versions
from bench.stack import BenchStack
from bench.sweeps import run_sweep, step_summary
from infra.redis_keys import RedisKeys
from ports.projectors import PROJECTORS

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Options:
    scale: Scale
    keep: bool = False
    profile: bool = False
    skip_raw: bool = False
    log_level: str = "INFO"
    celebrity_threshold: int | None = None
    seed: int = 5
    api_workers: int = 1  # API processes (ROOST_API_WORKERS); > 1: a supervisor's children
    phases: tuple[str, ...] = ()  # the measured phases to run (config.MEASURED); () all


class Run:
    """One benchmark run; ``results`` fills up phase by phase."""

    def __init__(self, options: Options, console: Console) -> None:
        self.options = options
        self.scale = options.scale
        self.console = console
        self.results: dict[str, Any] = {"phases_failed": {}}
        self.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.progress = Progress(TextColumn("{task.description:<44}"), BarColumn(),
                                 TextColumn("{task.completed:>9,.0f}/{task.total:<9,.0f}"),
                                 TimeElapsedColumn(), console=console, transient=False)

    # ---- helpers -----------------------------------------------------------------
    def wanted(self, name: str) -> bool:
        """Whether the measured phase ``name`` runs (``--only``)."""
        return not self.options.phases or name in self.options.phases

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if not self.console.is_terminal:  # logs get a line per phase; terminals a bar
            self.console.log(f"phase {name}")
        started = time.perf_counter()
        try:
            if self.stack.processes:
                self.stack.check_alive()
            yield
        except Exception as error:  # a broken phase is reported, the run goes on
            self.results["phases_failed"][name] = repr(error)[:500]
            self.console.print(f"[red]phase {name} failed: {error!r}[/red]")
        finally:
            self.results.setdefault("phase_seconds", {})[name] = round(
                time.perf_counter() - started, 1)

    def step_bar(self, total: float, label: str) -> Callable[[str], None]:
        task = self.progress.add_task(label, total=total)

        def on_step(description: str) -> None:
            self.progress.update(task, advance=1, description=description)

        return on_step

    def profiler(self, parts: tuple[str, ...], label: str
                 ) -> Callable[[int], Callable[[], dict[str, Any]]] | None:
        """With ``--profile``: py-spy ``parts`` during every step of a sweep."""
        if not self.options.profile:
            return None

        def around(rate: int) -> Callable[[], dict[str, Any]]:
            # Every step: which one saturates is only known afterwards.
            pids = self.stack.pids()
            running = {}
            for part in parts:
                out = RESULTS / f"{self.stamp}-{label}-{rate}-{part}.collapsed.txt"
                running[part] = (out, self.start_profile(part, pids[part], self.scale.step_s,
                                                         out))

            def finish() -> dict[str, Any]:
                found = {}
                for part, (out, process) in running.items():
                    profiling.finish(process)
                    found[part] = profiling.top_frames(out)
                return found

            return finish

        return around

    def start_profile(self, part: str, pid: int, seconds: float, out: Path
                      ) -> subprocess.Popen[bytes] | None:
        """py-spy ``part``; the API with all its processes when it runs several."""
        several = part == "api" and self.options.api_workers > 1
        return profiling.start(pid, seconds, out, subprocesses=several)

    def wait_quiet(self, part: str, timeout_s: float, below_cores: float = 0.1
                   ) -> dict[str, Any]:
        """Wait until ``part`` uses less than ``below_cores`` over 2 s; how long it took."""
        why = "its processes starting" if part == "api" else "its Kafka backlog"
        task = self.progress.add_task(f"{part} settling ({why})", total=1)
        pids = self.stack.api_pids() if part == "api" else [self.stack.pids()[part]]
        started = time.perf_counter()
        cores = []
        while time.perf_counter() - started < timeout_s:
            self.stack.check_alive()
            meter = CpuMeter({part: pids})
            meter.start()
            time.sleep(2.0)
            cores.append(meter.stop()[part])
            self.progress.update(task, description=f"{part} settling: {cores[-1]:.2f} cores")
            if cores[-1] < below_cores:
                break
        return {"seconds": round(time.perf_counter() - started, 1),
                "cores_first": cores[0] if cores else None,
                "cores_last": cores[-1] if cores else None}

    def wait_caught_up(self, label: str, timeout_s: float,
                       sampler: pipeline.Sampler | None = None) -> dict[str, Any]:
        task = self.progress.add_task(label, total=1)
        return pipeline.wait_caught_up(
            self.stack.settings, timeout_s,
            lambda done, total: self.progress.update(task, completed=done, total=max(total, 1)),
            sampler, self.stack.check_alive)

    # ---- the run -----------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.results["meta"] = machine_info() | {
            "started": self.stamp, "scale": asdict(self.scale), "log_level":
            self.options.log_level, "api_processes": self.options.api_workers}
        overrides: dict[str, Any] = {"log_level": self.options.log_level,
                                     "api_workers": self.options.api_workers}
        if self.options.celebrity_threshold is not None:
            overrides["celebrity_threshold"] = self.options.celebrity_threshold
        self.stack = BenchStack.create(overrides)
        self.fleet = Fleet(self.scale.generator_processes)
        started = time.perf_counter()
        try:
            with self.progress:
                self.results["meta"] |= server_versions(self.stack.settings)
                self.results["meta"]["settings"] = {
                    k: v for k, v in self.stack.settings.model_dump().items()
                    if k.startswith(("argon2", "timeline", "celebrity", "active", "fanout",
                                     "follow", "relay", "sweep", "postgres_pool", "log_"))}
                self.setup()
                self.measure()
        finally:
            self.results["meta"]["total_seconds"] = round(time.perf_counter() - started, 1)
            self.fleet.close()
            self.stack.stop_parts()
            for part in ("api", "relay", "worker", "noida"):  # the logs' ends, for post-mortems
                tail = self.stack.tail(part, 300)
                if tail:
                    (RESULTS / f"{self.stamp}-{part}.log").write_text(tail + "\n")
            self.stack.close(keep=self.options.keep)
            if self.options.keep:
                self.console.print(f"kept: database {self.stack.settings.postgres_dbname}, "
                                   f"Redis prefix {self.stack.settings.redis_prefix}, "
                                   f"logs in {self.stack.work_dir}")
        return self.results

    def setup(self) -> None:
        scale = self.scale
        self.graph: Graph = generate(scale.accounts, scale.avg_follows, scale.avg_posts,
                                     scale.fanout_buckets, scale.planted_per_bucket,
                                     seed=self.options.seed)
        self.results["graph"] = self.graph.stats()
        tasks: dict[str, Any] = {}

        def advance(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = self.progress.add_task(f"load {phase}", total=max(1, total))
            self.progress.update(tasks[phase], completed=done)

        values = self.stack.settings.model_dump()
        loaded = load_graph(values, self.graph, scale.loader_processes, advance)
        self.ids = loaded.account_ids
        self.results["load"] = {"per_s": loaded.rates, "seconds": loaded.seconds,
                                "events": catchup.event_counts(self.stack.settings)}
        # The projections of the bulk load are rebuilt from the event store, both
        # projectors at once, before the stack starts (as an operator would after a
        # restore): the projectors' throughput with nothing else running.
        with self.phase("rebuild projections"):
            positions = pipeline.Positions(self.stack.settings)
            head = positions.read()["event_store"]
            task = self.progress.add_task("rebuild projections from the event store",
                                          total=max(1, head))
            self.results["load"]["rebuild"] = catchup.rebuild_projectors(
                self.stack.settings, waiting=lambda: self.progress.update(
                    task, completed=min(v for n, v in positions.read().items() if n in PROJECTORS)))
            positions.close()
        # The relay publishes only the last ``relay_backlog`` bulk events: noida-db
        # rewrites its whole log on each write and slows down past ~1M messages
        # (STACK.md); the rest count as published. Its catch-up figure is on those.
        backlog = min(head, scale.relay_backlog)
        pipeline.mark_published(self.stack.settings, head - backlog)
        self.results["load"]["relay_backlog"] = backlog
        with pipeline.Sampler(self.stack.settings, 0.25, scale.catch_up_timeout_s + 120) as trace:
            with self.phase("start stack"):
                self.stack.start()
                self.results["meta"]["health"] = self.stack.wait_healthy()
                self.stack.wait_api_processes()
            catch_up = self.wait_caught_up("projectors catching up", scale.catch_up_timeout_s,
                                           trace)
        self.results["load"]["catch_up_after_load"] = catch_up
        if not catch_up.get("caught_up"):
            self.console.print("[yellow]projectors did not catch up in time; figures after "
                               "this include their backlog[/yellow]")
        # The projectors caught up from the event store, but the worker's Kafka stream
        # still delivers the relay's backlog once more (each a stale no-op): give it up
        # to a minute to settle. Idle on noida-db it uses ~0.12 cores (its Kafka
        # consumer's fetches, even with the empty-fetch pause), so "settled" is < 0.2.
        self.results["load"]["stream_drain"] = self.wait_quiet("worker", 60.0, 0.2)
        if self.options.api_workers > 1:
            # The health check answered from one process; the others may still be
            # importing (seconds on a busy machine): wait until the API is quiet.
            self.results["load"]["api_settle"] = self.wait_quiet("api", 30.0, 0.2)

        planted = {i for authors in self.graph.planted.values() for i in authors}
        self.pop = workloads.population(self.stack.settings, self.ids, self.graph.usernames,
                                        scale.warm_readers, scale.cold_readers, planted)
        paths = httpx.get(f"{self.stack.base_url}/openapi.json", timeout=10).json()["paths"]
        self.results["meta"]["features"] = {"like": workloads.LIKE_PATH in paths}
        if workloads.LIKE_PATH in paths:
            with psycopg.connect(self.stack.settings.postgres_conninfo) as conn:
                rows = conn.execute("SELECT id FROM rm_posts ORDER BY id DESC LIMIT 2000")
                self.pop.like_paths = tuple(
                    workloads.LIKE_PATH.format(post_id=r[0]) for r in rows.fetchall())

    def measure(self) -> None:
        scale, port = self.scale, self.stack.settings.api_port
        pids = self.stack.pids()
        meter = {name: [pid] for name, pid in pids.items() if name != "noida-db"}
        # Every API process: with --api-workers N the supervisor and its N children.
        meter["api"] = self.stack.api_pids()
        self.results["meta"]["api_pids"] = meter["api"]
        meter["postgres (all)"] = postgres_pids()
        meter["redis-server"] = [redis_pid(self.stack.settings)]
        meter["load generator"] = self.fleet.pids()
        with self.phase("idle"):
            seconds = 5.0 if self.options.profile else 3.0
            recorders = {}
            if self.options.profile:
                for part in ("worker", "relay"):
                    out = RESULTS / f"{self.stamp}-idle-{part}.collapsed.txt"
                    recorders[part] = (out, profiling.start(pids[part], seconds, out))
            idle = CpuMeter(meter)
            idle.start()
            time.sleep(seconds)
            self.results["idle_cores"] = idle.stop()
            for part, (out, process) in recorders.items():
                profiling.finish(process)
                self.results.setdefault("idle_profiles", {})[part] = profiling.top_frames(out)
        if not self.options.skip_raw and self.wanted("raw"):
            with self.phase("raw"):
                self.results["raw"] = self.raw_limits()

        if self.wanted("reads_warm") or self.wanted("mixed"):
            with self.phase("prewarm"):
                on = self.step_bar(1, "first read of each warm reader")
                self.results["prewarm"] = warmup.warm(port, self.pop.warm_tokens)
                on("warm readers' first read")

        if self.wanted("reads_warm"):
            with self.phase("reads_warm"):
                self.results["reads_warm"] = run_sweep(
                    self.fleet, lambda r: workloads.reads(self.pop, port, r, scale.step_s),
                    scale.read_rates, "home", self.step_bar(len(scale.read_rates), "warm reads"),
                    meter, self.profiler(("api",), "reads"))

        if self.wanted("posts"):
            with self.phase("posts"):
                self.results["posts"] = run_sweep(
                    self.fleet, lambda r: workloads.posts(self.pop, port, r, scale.step_s),
                    scale.post_rates, "post", self.step_bar(len(scale.post_rates), "posts"), meter,
                    self.profiler(("api", "worker", "relay"), "posts"))
                self.results["posts"]["catch_up_after"] = self.wait_caught_up(
                    "projectors after the post sweep", scale.catch_up_timeout_s)

        if self.wanted("fanout"):
            with self.phase("fanout"):
                self.results["fanout"] = self.fanout(port)

        if self.wanted("mixed"):
            with self.phase("mixed"):
                # Once at a rate the reads sustained (so the pipeline figures mean something),
                # once at the goals' rate (500 reads/s + 50 writes/s at default scale).
                sustained = self.results.get("reads_warm", {}).get("max_sustained_rate") or 0
                rate = max(20, int(0.8 * sustained * 1.1))
                self.results["mixed"] = self.mixed(port, meter, pids, min(rate, scale.mixed_rate))
                if rate < scale.mixed_rate:
                    self.results["mixed_goal"] = self.mixed(port, meter, {}, scale.mixed_rate)

        if self.wanted("reads_cold"):
            with self.phase("reads_cold"):
                self.results["reads_cold"] = self.cold_reads(port, meter)

        if self.wanted("memory"):
            with self.phase("memory"):
                self.results["memory"] = {
                    "redis": memory.redis_families(self.stack.settings),
                    "postgres": memory.postgres_sizes(self.stack.settings),
                    "processes": memory.process_memory(pids),
                }

    def raw_limits(self) -> dict[str, Any]:
        settings = self.stack.settings
        on = self.step_bar(4 + len(self.scale.raw_http_rates), "raw limits")
        raw: dict[str, Any] = {}
        on("raw: PostgreSQL insert transactions")
        raw["postgres_insert"] = rawlimits.postgres_insert(settings)
        on("raw: PostgreSQL page hydrate")
        raw["postgres_hydrate"] = rawlimits.postgres_hydrate(settings)
        on("raw: Redis fan-out")
        raw["redis_fanout"] = rawlimits.redis_fanout(
            settings, tuple(sorted(self.graph.planted)), settings.timeline_max_entries,
            settings.fanout_batch)
        on("raw: Redis page read")
        raw["redis_page_read"] = rawlimits.redis_page_read(settings)
        raw["http_trivial"] = rawlimits.trivial_http(self.fleet, self.scale.raw_http_rates,
                                                     min(self.scale.step_s, 5.0), on)
        return raw

    def fanout(self, port: int) -> dict[str, Any]:
        followers = self.graph.followers_of()
        buckets: dict[int, list[fanout.Author]] = {}
        settings = self.stack.settings
        for size, authors in sorted(self.graph.planted.items()):
            buckets[size] = [
                fanout.Author(self.ids[a], self.graph.usernames[a],
                              workloads.mint(settings, self.ids[a], self.graph.usernames[a]),
                              tuple(workloads.mint(settings, self.ids[f], self.graph.usernames[f])
                                    for f in followers[a][:2000]))
                for a in authors]
        on = self.step_bar(len(buckets) * self.scale.fanout_posts, "fan-out lag")
        return fanout.measure(settings, port, buckets, self.scale.fanout_posts,
                              self.scale.fanout_sample, on_post=on)

    def mixed(self, port: int, meter: dict[str, list[int]], pids: dict[str, int], rate: int
              ) -> dict[str, Any]:
        """The 10:1 mix at ``rate``; py-spy ``pids`` meanwhile (with ``--profile``)."""
        scale = self.scale
        on = self.step_bar(1, "mixed 10:1 load")
        on(f"mixed 10:1 @ {rate}/s")
        cpu = CpuMeter(meter)
        profiles: dict[str, Any] = {}
        recorders = {}
        if self.options.profile:
            for part in ("api", "worker", "relay"):
                if part in pids:
                    out = RESULTS / f"{self.stamp}-mixed-{part}.collapsed.txt"
                    recorders[part] = (out, self.start_profile(part, pids[part], scale.mixed_s,
                                                               out))
        with pipeline.Sampler(self.stack.settings, interval_s=0.1) as sampler:
            cpu.start()
            step = self.fleet.run(workloads.mixed(self.pop, port, rate, scale.mixed_s))
            cores = cpu.stop()
            time.sleep(1.0)  # a little tail so the lag of the last writes is seen
        for part, (out, process) in recorders.items():
            profiling.finish(process)
            profiles[part] = profiling.top_frames(out)
        return {
            "rate": rate,
            "seconds": scale.mixed_s,
            "kinds": {kind: step_summary(step, kind) for kind in step.kinds},
            "pipeline": sampler.summary(),
            "server_cores": cores,
            "api_cpu_ms_per_request": cpu_ms_per_request(cpu, "api", step.completed),
            "profiles": profiles,
        }

    def cold_reads(self, port: int, meter: dict[str, list[int]]) -> dict[str, Any]:
        settings = self.stack.settings
        keys = RedisKeys(settings.redis_prefix)
        client = redis.Redis.from_url(settings.redis_url)
        index_key = getattr(keys, "home_index", None)

        def forget() -> None:
            names = [keys.home(i) for i in self.pop.cold_ids]
            if index_key is not None:
                names += [index_key(i) for i in self.pop.cold_ids]
            for at in range(0, len(names), 1000):
                client.unlink(*names[at:at + 1000])

        rates = self.scale.cold_rates
        on = self.step_bar(len(rates), "cold reads")

        def workload(rate: int) -> Any:
            forget()
            return workloads.cold_reads(self.pop, port, rate, self.scale.step_s)

        try:
            sweep = run_sweep(self.fleet, workload, rates, "home_cold", on, meter)
            rebuilt = sum(int(client.exists(keys.home(i))) for i in self.pop.cold_ids[:500])
        finally:
            client.close()
        sweep["rebuilt_keys_sampled"] = f"{rebuilt}/{min(500, len(self.pop.cold_ids))}"
        sweep["empty_pages"] = sum(s["empty_pages"] for s in sweep["steps"])
        return sweep
