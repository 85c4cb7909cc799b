"""``python -m bench.live``: how fast a new post reaches connected home streams.

For each number of connected clients (``--clients 100 1000``): that many
followers of one author hold ``GET /api/streaming/home`` open; the author posts
``--posts`` times, one post at a time, and each client records when the post's
``update`` event arrives. Latency = arrival - the moment the ``201`` came back,
over every (post, client) pair: p50/p95/p99. Also the API process's resident
memory per connected client.

Beside them, their raw limits on this machine, measured in the same run:

* Redis: ``XADD`` on one connection to the return of a blocked ``XREAD`` on
  another (the publish -> reader hop, nothing of Roost's in between);
* a bare sse-starlette app: a ``POST`` sets an ``asyncio.Event`` that every
  connected client's generator waits on; from sending the ``POST`` (its answer
  comes after the clients were woken) to the event at each of the same number
  of clients.

Benchmarks report, they never assert timings. A small run:
``python -m bench.live --clients 100 --posts 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aredis

from bench.stack import BenchStack, rss_bytes
from bench.stats import nan_to_none, summarize
from bench.workloads import mint
from infra import devstack

RESULTS = Path(__file__).parent / "results"
CLIENTS_PER_HTTPX = 100  # connections per httpx client (its pool is per client)
CONNECTING = 50  # clients connecting at once


# -- SSE clients ------------------------------------------------------------------

class Arrivals:
    """When each client saw each event id (``data.id`` or the raw payload)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}
        self.changed = asyncio.Event()

    def record(self, key: str) -> None:
        self.seen.setdefault(key, []).append(time.perf_counter())
        self.changed.set()

    async def wait(self, key: str, count: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.seen.get(key, [])) < count and time.monotonic() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - time.monotonic())
        return self.seen.get(key, [])


async def _client(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                  arrivals: Arrivals, connected: asyncio.Event, counter: list[int],
                  total: int, connecting: asyncio.Semaphore) -> None:
    await connecting.acquire()
    async with client.stream("GET", path, headers=headers) as response:
        connecting.release()
        response.raise_for_status()
        counter[0] += 1
        if counter[0] == total:
            connected.set()
        data = None
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data is not None:
                try:
                    parsed = orjson.loads(data)
                    key = str(parsed.get("id")) if isinstance(parsed, dict) else data
                except orjson.JSONDecodeError:
                    key = data
                arrivals.record(key)
                data = None


@contextlib.asynccontextmanager
async def connected_clients(base_url: str, path: str, tokens: Sequence[str | None]
                            ) -> AsyncIterator[Arrivals]:
    """``len(tokens)`` SSE clients, all connected on entry."""
    arrivals, connected, counter = Arrivals(), asyncio.Event(), [0]
    # Connect in waves: the measure is of connected clients, not of a connection storm
    # (the API's Redis pool, 100 connections, refuses a burst of 1,000 requests).
    connecting = asyncio.Semaphore(CONNECTING)
    clients = [httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(30, read=None),
                                 limits=httpx.Limits(max_connections=CLIENTS_PER_HTTPX + 5))
               for _ in range(0, len(tokens), CLIENTS_PER_HTTPX)]
    tasks = [asyncio.create_task(_client(
        clients[n // CLIENTS_PER_HTTPX], path,
        {"Authorization": f"Bearer {token}"} if token else {}, arrivals, connected, counter,
        len(tokens), connecting)) for n, token in enumerate(tokens)]
    try:
        waiting = asyncio.create_task(connected.wait())
        await asyncio.wait([waiting, *tasks], timeout=120, return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in tasks if t.done()]
        if failed:
            waiting.cancel()
            raise RuntimeError(f"{len(failed)} clients failed to connect") from \
                failed[0].exception()
        if not connected.is_set():
            raise TimeoutError(f"{counter[0]} of {len(tokens)} clients connected in 120 s")
        yield arrivals
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.aclose()


# -- Roost -----------------------------------------------------------------------

def _prepare(stack: BenchStack, readers: int) -> tuple[str, list[str]]:
    """An author and ``readers`` followers (through the command bus); their tokens."""
    from commands.messages import Actor, RegisterAccount, SetFollow
    from infra.bootstrap import build_command_bus, close_command_bus

    bus = build_command_bus(stack.settings)
    run = uuid.uuid4().hex[:6]

    def register(name: str) -> Actor:
        made = bus.handle(RegisterAccount(username=name, email=f"{name}@example.com",
                                          password="correct horse battery"))
        return Actor(int(made.data["id"]), name, uuid.uuid4().hex)

    author = register(f"live_author_{run}")
    tokens = []
    for n in range(readers):
        reader = register(f"live_{run}_{n}")
        bus.handle(SetFollow(actor=reader, username=author.username, active=True))
        tokens.append(mint(stack.settings, reader.account_id, reader.username))
    close_command_bus(bus)
    return mint(stack.settings, author.account_id, author.username), tokens


async def roost_latency(stack: BenchStack, clients: int, posts: int) -> dict[str, Any]:
    author_token, tokens = await asyncio.to_thread(_prepare, stack, clients)
    api_pid = stack.processes["api"].pid
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {author_token}"}) as http:
        warm = await http.post("/api/posts", json={"text": "warm-up"})  # caches, plans
        await http.get("/api/timelines/home",
                       headers={"Roost-Min-Position": warm.headers["Roost-Position"]})
        rss_before = rss_bytes(api_pid)
        async with connected_clients(stack.base_url, "/api/streaming/home", tokens) as arrivals:
            rss_connected = rss_bytes(api_pid)
            latencies: list[float] = []
            missing = 0
            for n in range(posts):
                response = await http.post("/api/posts", json={"text": f"live bench {n}"})
                created_at = time.perf_counter()
                response.raise_for_status()
                seen = await arrivals.wait(response.json()["id"], clients, timeout=30)
                latencies += [(t - created_at) * 1000 for t in seen]
                missing += clients - len(seen)
    return {"clients": clients, "posts": posts, "latency_ms": summarize(latencies),
            "missing": missing,
            "api_rss_per_client_bytes": round((rss_connected - rss_before) / clients)}


# -- raw limits ------------------------------------------------------------------

async def redis_round_trip(redis_url: str, rounds: int = 300) -> dict[str, Any]:
    """XADD on one connection -> a blocked XREAD returning on another."""
    key = f"bench-raw-live:{uuid.uuid4().hex}"
    writer = aredis.Redis.from_url(redis_url)
    reader = aredis.Redis.from_url(redis_url, socket_timeout=10)
    latencies: list[float] = []
    try:
        last = "0-0"
        for n in range(rounds):
            async def blocked_read(after: str) -> Any:
                return await reader.xread({key: after}, block=5000)

            read = asyncio.create_task(blocked_read(last))
            await asyncio.sleep(0.001)  # let the XREAD reach Redis and block
            started = time.perf_counter()
            await writer.xadd(key, {"d": f"{n}"}, maxlen=100)
            reply = await read
            latencies.append((time.perf_counter() - started) * 1000)
            last = reply[0][1][-1][0]
    finally:
        await writer.unlink(key)
        await writer.aclose()
        await reader.aclose()
    return {"xadd_to_xread_ms": summarize(latencies)}


def _raw_app() -> Any:
    from fastapi import FastAPI
    from sse_starlette import EventSourceResponse, ServerSentEvent

    app = FastAPI()
    state: dict[str, Any] = {"event": asyncio.Event(), "n": 0}

    @app.post("/fire")
    async def fire() -> dict[str, int]:
        state["n"] += 1
        event, state["event"] = state["event"], asyncio.Event()
        event.set()
        return {"id": state["n"]}

    @app.get("/stream")
    async def stream() -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            while True:
                event = state["event"]
                await event.wait()
                yield ServerSentEvent(json.dumps({"id": str(state["n"])}), event="update")

        return EventSourceResponse(events(), ping=15)

    return app


async def bare_sse(clients: int, posts: int) -> dict[str, Any]:
    port = devstack.free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.live", "--serve-raw", str(port)],
                              stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        devstack.wait_for_http(f"{base}/docs", {"raw-sse": server}, 30)
        rss_before = rss_bytes(server.pid)
        async with connected_clients(base, "/stream", [None] * clients) as arrivals, \
                httpx.AsyncClient(base_url=base, timeout=30) as http:
            rss_connected = rss_bytes(server.pid)
            latencies: list[float] = []
            for _ in range(posts):
                fired = time.perf_counter()  # it answers after the clients are woken
                response = await http.post("/fire")
                seen = await arrivals.wait(str(response.json()["id"]), clients, timeout=30)
                latencies += [(t - fired) * 1000 for t in seen]
    finally:
        server.terminate()
        server.wait(10)
    return {"clients": clients, "latency_ms": summarize(latencies),
            "rss_per_client_bytes": round((rss_connected - rss_before) / clients)}


# -- the run ---------------------------------------------------------------------

async def run(client_counts: list[int], posts: int, keep: bool) -> dict[str, Any]:
    stack = BenchStack.create({"live_max_streams_per_account": 10, "log_level": "WARNING"})
    results: dict[str, Any] = {"roost": [], "bare_sse": []}
    try:
        stack.start()
        stack.wait_healthy()
        results["redis"] = await redis_round_trip(stack.settings.redis_url)
        for clients in client_counts:
            results["roost"].append(await roost_latency(stack, clients, posts))
            results["bare_sse"].append(await bare_sse(clients, posts))
    finally:
        stack.close(keep=keep)
    return results


def report(results: dict[str, Any]) -> None:
    redis_ms = results["redis"]["xadd_to_xread_ms"]
    print(f"raw Redis XADD -> blocked XREAD: p50 {redis_ms['p50']} ms, "
          f"p99 {redis_ms['p99']} ms")
    print(f"{'clients':>8} | {'Roost 201 -> SSE event  p50 / p95 / p99 ms':>44} | "
          f"{'bare sse-starlette p50 / p95 / p99 ms':>40} | {'KiB/client Roost / bare':>24}")
    for roost, bare in zip(results["roost"], results["bare_sse"], strict=True):
        r, b = roost["latency_ms"], bare["latency_ms"]
        print(f"{roost['clients']:>8} | {r['p50']:>14} / {r['p95']:>8} / {r['p99']:>8}"
              f"{'':>10} | {b['p50']:>12} / {b['p95']:>8} / {b['p99']:>8}{'':>6} | "
              f"{roost['api_rss_per_client_bytes'] / 1024:>10.1f} / "
              f"{bare['rss_per_client_bytes'] / 1024:>8.1f}"
              + (f"  ({roost['missing']} events missing)" if roost["missing"] else ""))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--posts", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--serve-raw", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_raw:
        import uvicorn

        uvicorn.run(_raw_app(), host="127.0.0.1", port=args.serve_raw, log_level="warning",
                    access_log=False)
        return 0
    devstack.interrupt_on_stop_signals()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 1,000s of sockets, here and
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))  # in the API
    results = asyncio.run(run(args.clients, args.posts, args.keep))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"live-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_bytes(orjson.dumps(nan_to_none(results), option=orjson.OPT_INDENT_2))
    report(results)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
