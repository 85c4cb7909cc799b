"""Operator tasks behind ``roost projections`` and ``roost events``.

Each task runs on the ``ProjectionServices`` its caller built (the CLI with
``infra.bootstrap.build_projections``) and leaves closing them to that caller.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from rich.progress import Progress

from infra.bootstrap import ProjectionServices, build_runner
from infra.copies import CopyRegistry, copy_label
from infra.eventlog import max_position
from infra.settings import Settings
from ports.parking import ParkedEvent
from ports.projectors import VERSIONS


async def projection_status(services: ProjectionServices, sample_s: float = 0.0
                            ) -> list[dict[str, Any]]:
    """One row per projector: ``name``, ``version`` (the code's), ``live`` (the live
    copy's label and the version that built it, ``v1@1``), ``building`` (the same for
    a copy a rebuild is building, or ``""``), ``position``, ``store`` (the event
    store's head), ``lag`` (events behind it), ``rate`` (events/s the position moved
    over ``sample_s`` seconds; a running rebuild's rate when not sampled), ``state``
    (``live``, ``catching up``, ``rebuilding vN: x%``, ``version bump pending``) and
    ``parked`` (how many it set aside)."""
    names = tuple(services.projectors)
    before = await services.positions.positions(names)
    if sample_s > 0:
        await asyncio.sleep(sample_s)
    positions = await services.positions.positions(names)
    async with services.pool.connection() as conn:
        store = await max_position(conn)
    parked = await services.parking.list_parked()
    states = await CopyRegistry(services.pool).states()
    rows = []
    for name, position in positions.items():
        copy = states.get(name)
        rate = (position - before[name]) / sample_s if sample_s > 0 else 0.0
        building = ""
        state = "live" if store - position <= 0 else "catching up"
        if copy is not None and copy.live_version < VERSIONS[name]:
            state = "version bump pending"
        if copy is not None and copy.building_copy is not None:
            building = f"{copy_label(copy.building_copy)}@{copy.building_version}"
            state = f"rebuilding {copy_label(copy.building_copy)}: {(copy.progress or 0):.0%}"
            rate = rate or (copy.building_rate or 0.0)
        rows.append({"name": name, "version": VERSIONS[name],
                     "live": "" if copy is None else
                     f"{copy_label(copy.live_copy)}@{copy.live_version}",
                     "building": building, "position": position, "store": store,
                     "lag": max(0, store - position), "rate": round(rate, 1), "state": state,
                     "parked": sum(1 for p in parked if p["projector"] == name)})
    return rows


async def rebuild(settings: Settings, services: ProjectionServices, name: str,
                  console: Console) -> int:
    """Reset one projector and replay the whole log into it; how many events it applied.
    Readers watch it fill up: ``infra.rebuild.rebuild`` (blue-green) is the way for a
    projection that has copies; this one is for those that have none yet.

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
    await services.follow_live(name)  # a Redis projection: its live copy
    for event in await services.parking.take(name):
        try:
            await projector.replay(event)
        except Exception:
            failed += 1
            continue
        await services.parking.release(name, event.position)
        done += 1
    return done, failed
