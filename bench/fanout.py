"""Fan-out lag: from a post's 201 until it is readable in its followers' home timelines.

For each follower-count bucket, planted authors post one at a time with no
other load. A random sample of followers (warmed first with one read, so
their timelines are kept and receive pushes) is polled through the real
HTTP API every ``interval_s`` until the post shows up on the first page, each
poll bounded by ``timeout_s``. Meanwhile the pipeline's positions are sampled
every 5 ms. A post's lag is the later of: the *last* sampled follower saw it,
the timeline projector finished its whole fan-out (its position moves after
the last follower's push), and the read models had it. The sample alone can
see the post before the followers pushed last do.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bench.httpclient import HttpConnection, HttpError, encode_request, header_value
from bench.pipeline import Sampler
from bench.stats import summarize
from infra.settings import Settings

HOME = "/api/timelines/home?limit=20"


@dataclass(frozen=True)
class Author:
    account_id: int
    username: str
    token: str
    follower_tokens: tuple[str, ...]


async def _get(conn: HttpConnection, host: str, token: str) -> tuple[int, bytes]:
    status, body, _ = await conn.request(encode_request("GET", HOME, host, token))
    return status, body


async def _poll_until(port: int, token: str, needle: bytes, started: float,
                      interval_s: float, timeout_s: float) -> float | None:
    host = f"127.0.0.1:{port}"
    conn = await HttpConnection.open("127.0.0.1", port)
    try:
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            status, body = await _get(conn, host, token)
            if status == 200 and needle in body:
                return time.perf_counter() - started
            await asyncio.sleep(interval_s)
        return None
    finally:
        conn.close()


async def _measure_post(port: int, author: Author, sample: list[str], text: str,
                        interval_s: float, timeout_s: float) -> dict[str, Any]:
    host = f"127.0.0.1:{port}"
    conn = await HttpConnection.open("127.0.0.1", port)
    try:
        for token in sample:  # warm: the reader is active, the timeline is kept
            await _get(conn, host, token)
        body = orjson.dumps({"text": text})
        sent = time.perf_counter()
        status, answer, head = await conn.request(
            encode_request("POST", "/api/posts", host, author.token, body))
        created = time.perf_counter()
    finally:
        conn.close()
    if status != 201:
        return {"error": f"POST /api/posts answered {status}: {answer[:200]!r}"}
    needle = b'"' + orjson.loads(answer)["id"].encode() + b'"'
    position = int(header_value(head, b"Roost-Position") or 0)
    seen = await asyncio.gather(*(
        _poll_until(port, token, needle, created, interval_s, timeout_s) for token in sample))
    lags = [s for s in seen if s is not None]
    return {
        "post_ms": (created - sent) * 1000,
        "lag_ms": max(lags) * 1000 if len(lags) == len(seen) else None,
        "first_ms": min(lags) * 1000 if lags else None,
        "timeouts": len(seen) - len(lags),
        "position": position,
        "created": created,
    }


def _wait_applied(trace: Sampler, position: int, deadline: float) -> None:
    """Until both projectors have applied ``position`` (bounded by ``deadline``)."""
    while time.perf_counter() < deadline:
        samples = trace.samples
        if samples and min(samples[-1][1]["read_models"], samples[-1][1]["timelines"]) \
                >= position:
            return
        time.sleep(0.005)


def _all_followers_ms(row: dict[str, Any]) -> float | None:
    """Readable by *every* follower: the sampled followers saw it, and the timeline
    projector had finished the whole fan-out (its position moves after the last push)
    and the read models had the post."""
    stages = row.get("stages", {})
    applied = [stages.get(n) for n in ("read_models", "timelines")]
    if row.get("lag_ms") is None or any(a is None for a in applied):
        return None
    return max(float(row["lag_ms"]), *(float(a) * 1000 for a in applied if a is not None))


def _stages(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Median delay from the 201 until the relay, then each projector, had the post."""
    result: dict[str, float | None] = {}
    for name in ("relay", "read_models", "timelines"):
        values = sorted(r["stages"][name] * 1000 for r in rows
                        if r.get("stages", {}).get(name) is not None)
        result[name] = round(values[len(values) // 2], 1) if values else None
    return result


def measure(settings: Settings, port: int, buckets: dict[int, list[Author]],
            posts_per_bucket: int,
            sample_size: int, interval_s: float = 0.01, timeout_s: float = 30.0,
            seed: int = 7, on_post: Any = lambda label: None) -> dict[str, Any]:
    """Lag per bucket: p50/p95/p99 of the last sampled follower's delay."""
    rng = random.Random(seed)
    results: dict[str, Any] = {}
    for size, authors in buckets.items():
        rows: list[dict[str, Any]] = []
        for i in range(posts_per_bucket):
            author = authors[i % len(authors)]
            sample = rng.sample(author.follower_tokens,
                                min(sample_size, len(author.follower_tokens)))
            on_post(f"fan-out {size} followers, post {i + 1}/{posts_per_bucket}")
            with Sampler(settings, interval_s=0.005, max_s=timeout_s + 5) as trace:
                try:
                    row = asyncio.run(_measure_post(
                        port, author, sample, f"fan-out probe {i} #bench", interval_s,
                        timeout_s))
                except (HttpError, OSError) as error:
                    row = {"error": repr(error)}
                if "position" in row:  # the sample may see it before the last follower does
                    _wait_applied(trace, row["position"], row["created"] + timeout_s)
            if "position" in row:
                row["stages"] = trace.reached(row["position"], row["created"])
                row["all_ms"] = _all_followers_ms(row)
            rows.append(row)
            time.sleep(0.3)  # let the pipeline settle before the next probe
        lags = [r["all_ms"] for r in rows if r.get("all_ms") is not None]
        results[str(size)] = {
            "followers": size,
            "posts": len(rows),
            "lag": summarize(lags),
            "sampled_followers_ms": summarize([r["lag_ms"] for r in rows
                                               if r.get("lag_ms") is not None]),
            "first_follower_ms": summarize([r["first_ms"] for r in rows
                                            if r.get("first_ms") is not None]),
            "post_201_ms": summarize([r["post_ms"] for r in rows if "post_ms" in r]),
            "timeouts": sum(r.get("timeouts", 0) for r in rows),
            "stages_ms_p50": _stages(rows),
            "errors": [r["error"] for r in rows if "error" in r][:3],
            "sample_followers": sample_size,
            "poll_interval_ms": interval_s * 1000,
        }
    return results
