"""Health and metrics, for operators and their monitoring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from elasticsearch import AsyncElasticsearch
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from infra.eventlog import max_position
from infra.http.deps import Services
from infra.http.services import ApiServices
from infra.metrics import EVENT_STORE_POSITION, PROJECTION_LAG, PROJECTION_POSITION, RELAY_POSITION
from queries.positions import projection_position

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 2.0
PROJECTORS = ("read_models", "timelines")


async def _postgres(services: ApiServices) -> None:
    async with services.pool.connection() as conn:
        await conn.execute("SELECT 1")


async def _redis(services: ApiServices) -> None:
    await services.redis.ping()


async def _kafka(services: ApiServices) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=services.settings.kafka_bootstrap,
                                request_timeout_ms=int(CHECK_TIMEOUT_S * 1000))
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


async def _elasticsearch(services: ApiServices) -> None:
    async with AsyncElasticsearch(services.settings.elasticsearch_url,
                                  request_timeout=CHECK_TIMEOUT_S) as client:
        await client.info()


async def _worker(services: ApiServices) -> None:
    if not await services.redis.exists(services.keys.worker_heartbeat()):
        raise RuntimeError("no projection worker has reported in the last 15 s")


CHECKS: dict[str, Callable[[ApiServices], Awaitable[None]]] = {
    "postgres": _postgres, "redis": _redis, "kafka": _kafka, "elasticsearch": _elasticsearch,
    "worker": _worker,
}


async def _check(services: ApiServices, check: Callable[[ApiServices], Awaitable[None]]
                 ) -> str:
    try:
        await asyncio.wait_for(check(services), CHECK_TIMEOUT_S)
    except Exception as error:
        return f"error: {type(error).__name__}: {error}"[:300]
    return "ok"


@router.get("/health")
async def health(services: Services) -> JSONResponse:
    """200 when every dependency answers, 503 naming the ones that do not."""
    results = await asyncio.gather(*(_check(services, c) for c in CHECKS.values()))
    checks = dict(zip(CHECKS, results, strict=True))
    failing = [name for name, result in checks.items() if result != "ok"]
    body: dict[str, Any] = {"status": "ok" if not failing else "failing", "checks": checks}
    if failing:
        body["failing"] = failing
    else:
        body["positions"] = await _positions(services)
    return JSONResponse(body, status_code=503 if failing else 200)


async def _positions(services: ApiServices) -> dict[str, int]:
    async with services.pool.connection() as conn:
        store = await max_position(conn)
        cur = await conn.execute("SELECT position FROM relay_positions WHERE name = 'kafka'")
        row = await cur.fetchone()
    positions = {"event_store": store, "relay": int(row[0]) if row else 0}
    for name in PROJECTORS:
        positions[name] = await projection_position(services.queries, name)
    return positions


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(services: Services) -> PlainTextResponse:
    """Prometheus text format: latency, relay position, projection positions and lag."""
    try:
        positions = await _positions(services)
    except Exception:  # a scrape must still answer while a dependency is down
        positions = {}
    if positions:
        EVENT_STORE_POSITION.set(positions["event_store"])
        RELAY_POSITION.set(positions["relay"])
        for name in PROJECTORS:
            PROJECTION_POSITION.labels(name).set(positions[name])
            PROJECTION_LAG.labels(name).set(max(0, positions["event_store"] - positions[name]))
    return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)
