"""``python -m bench.upload_loop``: what one upload's body costs the API's event loop.

No server: on a uvloop event loop of this process, for the 3-megapixel JPEG of
``bench.media`` sent as ``multipart/form-data`` (as httpx sends it):

* **form**: Starlette's multipart parse and the file part's read, as
  ``POST /api/media`` does them, two ways: *spooled* -- the body handed over in
  one piece and a file part above 1 MiB spooled to a temporary file through
  worker-thread hand-offs (Starlette's default; Roost before issue 13's follow-up),
  and *in memory* -- the body in 64 KiB chunks as it arrived, the file part kept in
  memory (``infra.http.app``, ``infra.http.middleware.refeed``);
* **fingerprint**: the Idempotency-Key fingerprint of the same body, *on the loop*
  (``fingerprint``) and *off the loop* (``fingerprint_off_loop``: a worker thread).

For each, per upload: the CPU time of the loop's thread (``time.thread_time``), the
longest the loop went without running another task (a task yielding back to back
beside it measures the gaps), and the wall time. Medians over ``--iterations``
after a warm-up; the machine's own load moves the wall figures, far less the CPU
ones. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvloop
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.types import Message

from bench.media import sample_photo
from infra.http.idempotency import fingerprint, fingerprint_off_loop

CHUNK = 64 * 1024
WARM_UP = 5
SPOOL_DEFAULT = 1024 * 1024  # Starlette's MultiPartParser.spool_max_size


def _body() -> tuple[bytes, bytes, int]:
    photo = sample_photo(2000, 1500)
    request = httpx.Request("POST", "http://bench/api/media",
                            files={"file": ("p.jpg", photo, "image/jpeg")})
    return request.read(), request.headers["content-type"].encode(), len(photo)


def _scope(content_type: bytes) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/api/media", "query_string": b"",
            "headers": [(b"content-type", content_type)]}


async def _parse(chunks: list[bytes], content_type: bytes, size: int) -> None:
    pending = list(chunks)

    async def receive() -> Message:
        if not pending:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": pending.pop(0), "more_body": len(pending) > 0}

    form = await Request(_scope(content_type), receive).form(max_part_size=1024 * 1024)
    upload = form["file"]
    assert not isinstance(upload, str)
    if len(await upload.read()) != size:
        raise RuntimeError("the file part came back short")
    await form.close()


async def _ticker(state: dict[str, float]) -> None:
    """Yield back to back while ``state["running"]``; the longest gap between two turns
    goes to ``state["longest"]`` (seconds)."""
    last = time.perf_counter()
    while state["running"]:
        await asyncio.sleep(0)
        now = time.perf_counter()
        state["longest"], last = max(state["longest"], now - last), now


async def _measure(step: Callable[[], Awaitable[object]], iterations: int
                   ) -> dict[str, float]:
    cpu, gaps, walls = [], [], []
    for number in range(WARM_UP + iterations):
        state = {"running": True, "longest": 0.0}
        task = asyncio.create_task(_ticker(state))
        await asyncio.sleep(0)
        cpu_0, wall_0 = time.thread_time(), time.perf_counter()
        await step()
        cpu_1, wall_1 = time.thread_time(), time.perf_counter()
        state["running"] = False
        await task
        if number >= WARM_UP:
            cpu.append((cpu_1 - cpu_0) * 1000)
            gaps.append(state["longest"] * 1000)
            walls.append((wall_1 - wall_0) * 1000)
    return {"cpu_ms": statistics.median(cpu), "longest_step_ms": statistics.median(gaps),
            "longest_step_max_ms": max(gaps), "wall_ms": statistics.median(walls)}


async def _run(iterations: int) -> None:
    body, content_type, size = _body()
    chunks = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
    scope = _scope(content_type)
    spool = MultiPartParser.spool_max_size

    async def on_loop() -> str:
        return fingerprint(scope, body)

    cases: list[tuple[str, int, Callable[[], Awaitable[object]]]] = [
        ("form, spooled (one piece, temp file)", SPOOL_DEFAULT,
         lambda: _parse([body], content_type, size)),
        ("form, in memory (64 KiB chunks)", len(body) + 1,
         lambda: _parse(chunks, content_type, size)),
        ("fingerprint on the loop", spool, on_loop),
        ("fingerprint off the loop", spool, lambda: fingerprint_off_loop(scope, chunks)),
    ]
    print(f"one upload: {len(body) / 1e6:.2f} MB multipart body, a {size / 1e6:.2f} MB JPEG; "
          f"medians of {iterations}")
    print(f"{'':40} {'loop CPU ms':>11} {'longest step ms':>16} {'(max)':>7} {'wall ms':>8}")
    try:
        for name, spool_max, step in cases * 2:  # twice, interleaved: drift shows
            MultiPartParser.spool_max_size = spool_max
            row = await _measure(step, iterations)
            print(f"{name:40} {row['cpu_ms']:11.2f} {row['longest_step_ms']:16.2f} "
                  f"{row['longest_step_max_ms']:7.2f} {row['wall_ms']:8.2f}")
    finally:
        MultiPartParser.spool_max_size = spool


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upload_loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    uvloop.run(_run(args.iterations))


if __name__ == "__main__":
    main()
