"""Health and metrics, for operators and their monitoring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from infra.copies import CopyRegistry, copy_label
from infra.eventlog import max_position
from infra.health import OK, heartbeat_verdict, progress_verdict
from infra.http.deps import Services
from infra.http.services import ApiServices
from infra.metrics import (
    EVENT_STORE_POSITION,
    PARKED,
    PROJECTION_LAG,
    PROJECTION_POSITION,
    PROJECTION_REBUILD_PROGRESS,
    PROJECTION_REBUILD_RATE,
    PROJECTION_VERSION,
    RELAY_POSITION,
    exposition,
)
from infra.parking import parked_counts
from ports.errors import DependencyUnavailable
from ports.projectors import PROJECTORS, VERSIONS

router = APIRouter(tags=["operations"])
CHECK_TIMEOUT_S = 2.0


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
    await services.search.client.options(request_timeout=CHECK_TIMEOUT_S).info()


async def _rebuilds(services: ApiServices) -> str:
    """``ok``, or what is being rebuilt: ``rebuilding read_models v2 (version 3): 42%``
    (not a failure: the old copy serves until the switch); also sets the version and
    rebuild gauges of ``/metrics``."""
    states = await CopyRegistry(services.pool).states()
    running = []
    for name in PROJECTORS:
        state = states.get(name)
        PROJECTION_VERSION.labels(name, "code").set(VERSIONS[name])
        if state is None:
            continue
        PROJECTION_VERSION.labels(name, "live").set(state.live_version)
        PROJECTION_VERSION.labels(name, "building").set(state.building_version or 0)
        PROJECTION_REBUILD_PROGRESS.labels(name).set(state.progress or 0.0)
        PROJECTION_REBUILD_RATE.labels(name).set(state.building_rate or 0.0)
        if state.building_copy is not None:
            running.append(f"rebuilding {name} {copy_label(state.building_copy)} (version "
                           f"{state.building_version}): {(state.progress or 0):.0%}")
    return "; ".join(running) or OK


async def _worker(services: ApiServices) -> str:
    return heartbeat_verdict("worker", await services.redis.get(services.keys.worker_heartbeat()))


async def _relay(services: ApiServices) -> str:
    return heartbeat_verdict("relay", await services.redis.get(services.keys.relay_heartbeat()))


Check = Callable[[ApiServices], Awaitable[str]]


def _reachable(check: Callable[[ApiServices], Awaitable[None]]) -> Check:
    """A check that passes when ``check`` returns (a dependency that answers)."""
    async def run(services: ApiServices) -> str:
        await check(services)
        return OK
    return run


CHECKS: dict[str, Check] = {
    "postgres": _reachable(_postgres), "redis": _reachable(_redis),
    "kafka": _reachable(_kafka), "elasticsearch": _reachable(_elasticsearch),
    "worker": _worker, "relay": _relay, "rebuilds": _rebuilds,
}


async def _check(services: ApiServices, check: Check) -> str:
    try:
        return await asyncio.wait_for(check(services), CHECK_TIMEOUT_S)
    except Exception as error:
        return f"error: {type(error).__name__}: {error}"[:300]


@router.get("/health")
async def health(services: Services) -> JSONResponse:
    """200 when every dependency answers and every part keeps up; 503 naming the
    failing ones in ``failing``, each check saying why.

    Body: ``{status: "ok"|"failing", checks: {part: "ok" | "error: ..." |
    "unknown: ..."}, failing?: [part], positions?: {event_store, relay,
    read_models, timelines}, parked?: {projector: count}}``. Parked events are an
    alarm for an operator, not a failure: the pipeline moves past them.
    """
    results = await asyncio.gather(*(_check(services, c) for c in CHECKS.values()))
    checks = dict(zip(CHECKS, results, strict=True))
    body: dict[str, Any] = {"checks": checks}
    try:
        positions, parked = await asyncio.wait_for(_pipeline(services), CHECK_TIMEOUT_S)
    except Exception as error:
        for part in PROJECTORS:
            checks[part] = f"unknown: positions unreadable ({type(error).__name__})"
    else:
        body["positions"], body["parked"] = positions, parked
        for part in PROJECTORS:
            if part not in positions:  # its store (the search index) does not answer
                checks[part] = "unknown: position unreadable (its store does not answer)"
        await _judge_progress(services, checks, positions)
    failing = [name for name, result in checks.items() if result.startswith("error")]
    body["status"] = "ok" if not failing else "failing"
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)


async def _judge_progress(services: ApiServices, checks: dict[str, str],
                          positions: dict[str, int]) -> None:
    """Each projector's check, and the relay's once its heartbeat is there: stuck while
    events wait (``ROOST_HEALTH_MAX_PROJECTION_*``), from the looks of every API
    process (``infra.health.SharedProgress``)."""
    settings = services.settings
    head = positions["event_store"]
    looks: dict[str, tuple[int, int]] = {
        part: (positions[part], head - positions[part]) for part in (*PROJECTORS, "relay")
        if checks.get(part, OK) == OK and part in positions}
    stalled = await services.progress.stalled(looks, settings.health_max_projection_lag_events)
    for part, (position, _) in looks.items():
        checks[part] = progress_verdict(part, position, head, stalled[part],
                                        settings.health_max_projection_stall_s)


async def _pipeline(services: ApiServices) -> tuple[dict[str, int], dict[str, int]]:
    """Positions (event store, relay, projectors) and parked events per projector."""
    # The projectors' positions first, the store's head last: a projector found
    # ahead of the head then really applied events that are not in this store.
    # A projector whose store does not answer (the search index: Elasticsearch) is
    # left out; its check says so.
    # Each is read on its own, within half the check's time: a store that hangs (not
    # refuses) costs only its own projector's position, not everyone's.
    async def position(name: str) -> int | None:
        try:
            return await asyncio.wait_for(services.positions.position(name),
                                          CHECK_TIMEOUT_S / 2)
        except (DependencyUnavailable, TimeoutError):
            return None

    found = await asyncio.gather(*(position(name) for name in PROJECTORS))
    applied = {name: at for name, at in zip(PROJECTORS, found, strict=True) if at is not None}
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT position FROM relay_positions WHERE name = 'kafka'")
        row = await cur.fetchone()
        parked = await parked_counts(conn)
        store = await max_position(conn)
    positions = {"event_store": store, "relay": int(row[0]) if row else 0, **applied}
    return positions, {name: parked.get(name, 0) for name in PROJECTORS}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(services: Services) -> PlainTextResponse:
    """Prometheus text format: latency, relay position, projection positions and lag,
    parked events per projector, each projection's versions (code, live copy, copy
    being built) and a running rebuild's progress and rate; with several API
    processes, of all of them (``infra.metrics.exposition``)."""
    try:
        positions, parked = await asyncio.wait_for(_pipeline(services), CHECK_TIMEOUT_S)
    except Exception:  # a scrape must still answer while a dependency is down
        positions, parked = {}, {}
    await _check(services, _rebuilds)  # the version and rebuild gauges
    if positions:
        EVENT_STORE_POSITION.set(positions["event_store"])
        RELAY_POSITION.set(positions["relay"])
        for name in PROJECTORS:
            if name not in positions:
                continue
            PROJECTION_POSITION.labels(name).set(positions[name])
            PROJECTION_LAG.labels(name).set(max(0, positions["event_store"] - positions[name]))
            PARKED.labels(name).set(parked[name])
    return PlainTextResponse(exposition(), media_type=CONTENT_TYPE_LATEST)
