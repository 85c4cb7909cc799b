"""Operator tasks behind ``roost projections`` and ``roost events``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.progress import Progress

from infra.bootstrap import build_projections, build_runner
from infra.database import open_pool
from infra.eventlog import iter_envelopes, max_position
from infra.settings import Settings


async def projection_status(settings: Settings) -> list[dict[str, Any]]:
    services = await build_projections(settings)
    try:
        async with services.pool.connection() as conn:
            store = await max_position(conn)
        parked = await services.parking.list_parked()
        rows = []
        for name, projector in services.projectors.items():
            position = await projector.position()
            rows.append({"name": name, "position": position, "store": store,
                         "lag": max(0, store - position),
                         "parked": sum(1 for p in parked if p["projector"] == name)})
        return rows
    finally:
        await services.close()


async def rebuild(settings: Settings, name: str, console: Console) -> int:
    """Reset one projector and replay the whole log into it.

    Safe beside running workers: applies are serialised across processes (a
    row lock for the read models, a lease for the timelines), and a worker
    that finds the position reset helps by catching up from the event store.
    Nothing is announced to connected clients (``build_projections`` without ``live``).
    """
    services = await build_projections(settings)
    try:
        if name not in services.projectors:
            raise SystemExit(f"unknown projection {name!r}; one of {sorted(services.projectors)}")
        runner = build_runner(settings, services, name)
        await runner.reset()
        async with services.pool.connection() as conn:
            target = await max_position(conn)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"rebuilding {name}", total=target)
            applied = 0
            while (position := await services.projectors[name].position()) < target:
                applied += await runner.catch_up(min(target, position + 5000))
                progress.update(task, completed=await services.projectors[name].position())
                if await services.projectors[name].position() == position:
                    break
        await services.projectors[name].after_rebuild()
        return applied
    finally:
        await services.close()


async def parked(settings: Settings) -> list[dict[str, Any]]:
    services = await build_projections(settings)
    try:
        return await services.parking.list_parked()
    finally:
        await services.close()


async def replay_parked(settings: Settings, name: str) -> tuple[int, int]:
    services = await build_projections(settings)
    done = failed = 0
    try:
        projector = services.projectors[name]
        for event in await services.parking.take(name):
            try:
                await projector.replay(event)
            except Exception:
                failed += 1
                continue
            await services.parking.release(name, event.position)
            done += 1
        return done, failed
    finally:
        await services.close()


async def read_events(settings: Settings, after: int, limit: int, types: set[str]
                      ) -> list[dict[str, Any]]:
    pool = await open_pool(settings, max_size=1)
    found: list[dict[str, Any]] = []
    try:
        async with pool.connection() as conn:
            async for envelope in iter_envelopes(conn, after):
                if not types or envelope.type in types:
                    found.append(asdict(envelope))
                    if len(found) >= limit:
                        break
    finally:
        await pool.close()
    return found
