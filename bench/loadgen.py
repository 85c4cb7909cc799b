"""An open-loop HTTP load generator, spread over several processes.

Requests arrive at a fixed average rate (Poisson arrivals), whether or not
earlier ones were answered, and each latency is measured from the moment
the request was *due*, not from when a connection became free: a slow
server cannot slow the generator down and hide its own queueing
(coordinated omission). The rate is split over ``processes`` independent
processes with their own event loops and connections, and each reports the
CPU it used so that its own cost is visible next to the figures.

This module imports nothing from Roost: it is started with ``spawn``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import random
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from bench.httpclient import HttpConnection, HttpError, encode_request

HOST = "127.0.0.1"
EMPTY_PAGE = b'"items":[]'


@dataclass(frozen=True)
class Kind:
    """One kind of request in a workload, chosen with probability ~ ``weight``.

    ``sequential`` kinds use each token once, in order (cold reads).
    """

    name: str
    weight: float
    method: str
    paths: tuple[str, ...]
    tokens: tuple[str | None, ...] = (None,)
    bodies: tuple[bytes, ...] = ()
    sequential: bool = False


@dataclass(frozen=True)
class Workload:
    port: int
    rate: float  # requests per second, all processes together
    duration_s: float
    kinds: tuple[Kind, ...]
    max_connections: int = 64  # per process
    max_in_flight: int = 512  # per process; beyond that arrivals are dropped
    timeout_s: float = 10.0
    seed: int = 1


@dataclass
class KindResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    empty: int = 0  # timeline pages with no items

    def merge(self, other: KindResult) -> None:
        self.latencies_ms += other.latencies_ms
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.errors += other.errors
        self.empty += other.empty


@dataclass
class StepResult:
    """What all processes saw in one step."""

    rate: float
    duration_s: float
    kinds: dict[str, KindResult]
    dropped: int
    arrivals: int
    generator_cpu_s: float
    wall_s: float
    max_lateness_ms: float

    @property
    def completed(self) -> int:
        return sum(sum(k.statuses.values()) for k in self.kinds.values())

    def ok(self, kind: str) -> list[float]:
        return self.kinds[kind].latencies_ms if kind in self.kinds else []


def _share(workload: Workload, index: int, processes: int) -> Workload:
    kinds = tuple(
        Kind(k.name, k.weight, k.method, k.paths, k.tokens[index::processes] or k.tokens,
             k.bodies, k.sequential) if k.sequential else k
        for k in workload.kinds
    )
    return Workload(workload.port, workload.rate / processes, workload.duration_s, kinds,
                    workload.max_connections, workload.max_in_flight, workload.timeout_s,
                    workload.seed * 1000 + index)


class _Pool:
    """Keep-alive connections, opened on demand up to a cap."""

    def __init__(self, port: int, cap: int) -> None:
        self.port = port
        self.cap = cap
        self.idle: list[HttpConnection] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def acquire(self) -> HttpConnection:
        while True:
            while self.idle:
                conn = self.idle.pop()
                if conn.usable:
                    return conn
                conn.close()
                self.opened -= 1
            if self.opened < self.cap:
                self.opened += 1
                try:
                    return await HttpConnection.open(HOST, self.port)
                except OSError:
                    self.opened -= 1
                    raise
            async with self.freed:
                await self.freed.wait()

    async def release(self, conn: HttpConnection) -> None:
        if conn.closed:
            self.opened -= 1
        else:
            self.idle.append(conn)
        async with self.freed:
            self.freed.notify()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


async def _run(workload: Workload, start_at: float) -> dict[str, Any]:
    rng = random.Random(workload.seed)
    pool = _Pool(workload.port, workload.max_connections)
    results = {k.name: KindResult() for k in workload.kinds}
    lat = {k.name: array("d") for k in workload.kinds}
    cursors = {k.name: 0 for k in workload.kinds}
    weights = [k.weight for k in workload.kinds]
    in_flight: set[asyncio.Task[None]] = set()
    host = f"{HOST}:{workload.port}"

    def build(kind: Kind) -> bytes | None:
        if kind.sequential:
            at = cursors[kind.name]
            if at >= len(kind.tokens):
                return None  # every cold reader was used
            cursors[kind.name] = at + 1
            token = kind.tokens[at]
        else:
            token = rng.choice(kind.tokens)
        body = rng.choice(kind.bodies) if kind.bodies else None
        return encode_request(kind.method, rng.choice(kind.paths), host, token, body)

    async def one(kind: Kind, raw: bytes, due: float) -> None:
        result = results[kind.name]
        try:
            async with asyncio.timeout(workload.timeout_s):
                conn = await pool.acquire()
                try:
                    status, body, _ = await conn.request(raw)
                except BaseException:
                    conn.close()  # an answer may still be on its way: never reuse
                    raise
                finally:
                    await pool.release(conn)
        except (HttpError, OSError, TimeoutError):
            result.errors += 1
            return
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            lat[kind.name].append((time.perf_counter() - due) * 1000)
            if kind.method == "GET" and EMPTY_PAGE in body:
                result.empty += 1

    # Wall-clock start shared by all processes, then perf_counter for precision.
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0, t0 = time.process_time(), time.perf_counter()
    end = t0 + workload.duration_s
    due = t0 + rng.expovariate(workload.rate)
    dropped, arrivals, lateness = 0, 0, 0.0
    while due < end:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
            continue
        lateness = max(lateness, now - due)
        kind = rng.choices(workload.kinds, weights)[0]
        raw = build(kind)
        if raw is not None:
            arrivals += 1
            if len(in_flight) >= workload.max_in_flight:
                dropped += 1
            else:
                task = asyncio.create_task(one(kind, raw, due))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        due += rng.expovariate(workload.rate)
    if in_flight:
        _, pending = await asyncio.wait(in_flight, timeout=workload.timeout_s)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - t0
    pool.close()
    for name, values in lat.items():
        results[name].latencies_ms = values.tolist()
    return {
        "kinds": results, "dropped": dropped, "arrivals": arrivals,
        "cpu_s": time.process_time() - cpu0, "wall_s": wall, "lateness_ms": lateness * 1000,
    }


def _serve(inbox: Any, outbox: Any) -> None:
    """A generator process: run each workload it is handed, send back the result."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    while True:
        job = inbox.get()
        if job is None:
            return
        workload, start_at = job
        try:
            outbox.put(asyncio.run(_run(workload, start_at)))
        except Exception as error:  # report, never hang the parent
            outbox.put({"error": repr(error)})


class Fleet:
    """``processes`` generator processes, kept for the whole run."""

    def __init__(self, processes: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.outbox: Any = ctx.Queue()
        self.inboxes: list[Any] = []
        self.procs: list[Any] = []
        for _ in range(processes):
            inbox: Any = ctx.Queue()
            proc = ctx.Process(target=_serve, args=(inbox, self.outbox), daemon=True)
            proc.start()
            self.inboxes.append(inbox)
            self.procs.append(proc)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def run(self, workload: Workload) -> StepResult:
        """Run one step on every process at once; blocks for about its duration."""
        count = len(self.procs)
        start_at = time.time() + 0.3
        for index, inbox in enumerate(self.inboxes):
            inbox.put((_share(workload, index, count), start_at))
        parts: list[dict[str, Any]] = []
        deadline = time.monotonic() + workload.duration_s + workload.timeout_s + 60
        while len(parts) < count:
            try:
                parts.append(self.outbox.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise TimeoutError("a load generator process did not answer") from None
        errors = [p["error"] for p in parts if "error" in p]
        if errors:
            raise RuntimeError(f"load generator failed: {errors[0]}")
        kinds: dict[str, KindResult] = {}
        for part in parts:
            for name, result in part["kinds"].items():
                kinds.setdefault(name, KindResult()).merge(result)
        return StepResult(
            rate=workload.rate, duration_s=workload.duration_s, kinds=kinds,
            dropped=sum(p["dropped"] for p in parts),
            arrivals=sum(p["arrivals"] for p in parts),
            generator_cpu_s=sum(p["cpu_s"] for p in parts),
            wall_s=max(p["wall_s"] for p in parts),
            max_lateness_ms=max(p["lateness_ms"] for p in parts),
        )

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
