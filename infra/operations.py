"""Operator tasks behind ``roost projections`` and ``roost events``.

Each task runs on the ``ProjectionServices`` its caller built (the CLI with
``infra.bootstrap.build_projections``) and leaves closing them to that caller.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress

from infra.bootstrap import ProjectionServices, build_runner
from infra.eventlog import max_position
from infra.settings import Settings
from ports.parking import ParkedEvent


async def projection_status(services: ProjectionServices) -> list[dict[str, Any]]:
    """One row per projector: ``name``, ``position``, ``store`` (the event store's
    head), ``lag`` (events behind it) and ``parked`` (how many it set aside)."""
    async with services.pool.connection() as conn:
        store = await max_position(conn)
    parked = await services.parking.list_parked()
    positions = await services.positions.positions(tuple(services.projectors))
    rows = []
    for name, position in positions.items():
        rows.append({"name": name, "position": position, "store": store,
                     "lag": max(0, store - position),
                     "parked": sum(1 for p in parked if p["projector"] == name)})
    return rows


async def rebuild(settings: Settings, services: ProjectionServices, name: str,
                  console: Console) -> int:
    """Reset one projector and replay the whole log into it; how many events it applied.

    Safe beside running workers: applies are serialised across processes (a
    row lock for the read models, a lease for the timelines), and a worker
    that finds the position reset helps by catching up from the event store.
    Nothing is announced to connected clients as long as ``services`` were built
    without ``live`` (``build_projections``' default, what the CLI uses).

    Raises:
        SystemExit: ``name`` is no projector.
    """
    if name not in services.projectors:
        raise SystemExit(f"unknown projection {name!r}; one of {sorted(services.projectors)}")
    runner = build_runner(settings, services, name)
    await runner.reset()
    async with services.pool.connection() as conn:
        target = await max_position(conn)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"rebuilding {name}", total=target)
        applied = 0
        while (position := await services.positions.position(name)) < target:
            applied += await runner.catch_up(min(target, position + 5000))
            progress.update(task, completed=await services.positions.position(name))
            if await services.positions.position(name) == position:
                break
    await services.projectors[name].after_rebuild()
    return applied


async def parked(services: ProjectionServices) -> list[ParkedEvent]:
    """The parked events of every projector (``ParkingLot.list_parked`` rows)."""
    return await services.parking.list_parked()


async def replay_parked(services: ProjectionServices, name: str) -> tuple[int, int]:
    """Apply projector ``name``'s parked events again: (replayed, still failing).
    A replayed event leaves the parking lot; a failing one stays."""
    done = failed = 0
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
