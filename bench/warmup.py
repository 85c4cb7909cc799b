"""Make readers active: one home-timeline read each, closed-loop, with retries.

Timelines are kept (and receive pushes) only for readers active recently, so
the warm phases need their readers to have read once. This is set-up, not a
measurement: a few concurrent connections, each reader retried until its
read succeeds (at most ``attempts`` times), so an overloaded rebuild path
cannot leave the "warm" readers cold.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.httpclient import HttpConnection, HttpError, encode_request
from bench.stats import summarize

HOME = "/api/timelines/home?limit=20"


async def _warm(port: int, tokens: tuple[str, ...], concurrency: int, attempts: int,
                deadline_s: float) -> dict[str, Any]:
    host = f"127.0.0.1:{port}"
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failed = 0
    deadline = time.perf_counter() + deadline_s

    async def worker() -> None:
        nonlocal failed
        conn: HttpConnection | None = None
        while not queue.empty() and time.perf_counter() < deadline:
            token = queue.get_nowait()
            for attempt in range(attempts):
                try:
                    if conn is None or conn.closed:
                        conn = await HttpConnection.open("127.0.0.1", port)
                    started = time.perf_counter()
                    status, _, _ = await conn.request(encode_request("GET", HOME, host, token))
                except HttpError:
                    status = 0
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                    break
                await asyncio.sleep(0.2 * (attempt + 1))
            else:
                failed += 1
        if conn is not None:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"readers": len(tokens), "warmed": len(latencies), "gave_up": failed,
            "seconds": round(elapsed, 1), "reads_per_s": round(len(latencies) / elapsed, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "concurrency": concurrency, **summarize(latencies)}


def warm(port: int, tokens: tuple[str, ...], concurrency: int = 8, attempts: int = 4,
         deadline_s: float = 600.0) -> dict[str, Any]:
    """Read each token's home timeline once; figures of that (closed-loop) pass."""
    return asyncio.run(_warm(port, tokens, concurrency, attempts, deadline_s))
