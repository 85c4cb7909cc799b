"""Blue-green rebuilds and verifies of projections (``roost projections rebuild`` /
``verify``, and the worker's rebuild of a projection whose code version was bumped).

A rebuild never touches the live copy: it claims the next copy number
(``infra.copies.CopyRegistry``), fills that copy straight from the event store in
large pages by position (``Settings.rebuild_page``, applied
``Settings.rebuild_batch`` per transaction) with a projector that has no side
effects (``infra.bootstrap.build_copy_projector``: no live events, no post-cache
counts), catches up with the events written meanwhile, then switches readers and
writers to it in one step and drops the old copy. The API reads the live copy until
the switch and the new one after it; the live worker goes on applying new events to
the live copy until the switch and to the new one after it.

A verify fills a scratch copy the same way, brings it to the live copy's position,
compares the two on one snapshot and drops the scratch copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from infra.bootstrap import ProjectionServices, build_copy_projector, build_copy_runner
from infra.copies import (
    PG_COPIES,
    CopyRegistry,
    PgCopies,
    copy_label,
    lock_for_switch,
    record_switch,
    retry_on_lock_timeout,
)
from infra.eventlog import max_position
from infra.settings import Settings
from ports.projectors import VERSIONS
from projections.runner import ProjectionRunner

log = structlog.get_logger(__name__)

SCRATCH: Final = "scratch"
"""The label of a verify's copy (schema ``rm_scratch``)."""
CLOSE_ENOUGH: Final = 2000
"""Events behind the head at which the bulk phase stops and the switch catches up the
rest while the live writers wait."""
LIVE_WAIT_S: Final = 60.0
"""How long a verify waits for the live copy to reach the head the scratch copy was
built to."""


class Progress(Protocol):
    """Told how a long phase is going: ``position`` of ``target`` events, at ``rate``
    events/s (the CLI draws a bar; the worker logs)."""

    def __call__(self, phase: str, position: int, target: int, rate: float) -> None: ...


def no_progress(phase: str, position: int, target: int, rate: float) -> None:
    """A ``Progress`` that shows nothing."""


class NotRebuildable(Exception):
    """The projection has no blue-green copies yet (``infra.copies.PG_COPIES``)."""


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did: ``name`` is now served by copy ``copy`` (label ``v<n>``)
    built at code ``version`` from ``events`` events in ``seconds``; ``retired`` is
    the label of the dropped copy."""

    name: str
    copy: str
    version: int
    retired: str
    events: int
    seconds: float
    position: int


def rebuildable(name: str) -> bool:
    """Whether ``name`` has blue-green copies (else only the in-place rebuild)."""
    return name in PG_COPIES


def _copies(name: str) -> PgCopies:
    if name not in PG_COPIES:
        raise NotRebuildable(f"{name} has no blue-green copies yet; "
                             f"rebuildable: {', '.join(sorted(PG_COPIES))}")
    return PG_COPIES[name]


async def _head(services: ProjectionServices) -> int:
    async with services.pool.connection() as conn:
        return await max_position(conn)


async def fill(runner: ProjectionRunner, services: ProjectionServices, phase: str,
               progress: Progress, report: Callable[[int, int, float], Any] | None = None,
               chunk: int = 20_000) -> int:
    """Apply the event store's log into ``runner``'s projector until it is within
    ``CLOSE_ENOUGH`` events of the head; how many events were applied. ``progress``
    is told after each chunk of ``chunk`` positions; ``report`` (a coroutine
    function) at most once a second."""
    applied = 0
    started = time.monotonic()
    reported = 0.0
    position = start = await runner.projector.position()
    target = await _head(services)
    while True:
        while position < target:
            applied += await runner.catch_up(min(target, position + chunk))
            now_at = await runner.projector.position()
            if now_at == position:
                break  # nothing more to read below the target
            position = now_at
            rate = (position - start) / max(time.monotonic() - started, 1e-6)
            progress(phase, position, target, rate)
            if report is not None and time.monotonic() - reported >= 1.0:
                reported = time.monotonic()
                await report(position, target, rate)
        target = await _head(services)
        if target - position <= CLOSE_ENOUGH:
            return applied


async def rebuild(settings: Settings, services: ProjectionServices, name: str,
                  progress: Progress = no_progress) -> RebuildResult:
    """Build the next copy of projection ``name`` beside the live one at the code's
    version, switch readers and writers to it atomically and drop the old copy.

    Run one at a time per projection (the CLI and the worker hold the projection's
    rebuild lease, ``infra.bootstrap.rebuild_lease``); a build left unfinished by a
    crash is dropped by the next one.

    Raises:
        NotRebuildable: ``name`` has no copies (see ``rebuildable``).
        psycopg errors: the database failed; the new copy is dropped and the live
            one serves on, untouched.
    """
    copies = _copies(name)
    registry = CopyRegistry(services.pool)
    version = VERSIONS[name]
    started = time.monotonic()
    state, stale = await registry.begin(name, version)
    assert state.building_copy is not None
    label = copy_label(state.building_copy)
    log.info("rebuild.started", projection=name, copy=label, version=version,
             live=copy_label(state.live_copy))
    async with services.pool.connection() as conn:
        if stale is not None:
            await copies.drop(conn, copy_label(stale))
        await copies.create(conn, label)
    projector = build_copy_projector(settings, services, name, label)
    runner = build_copy_runner(settings, services, projector)
    try:
        events = await fill(runner, services, f"building {name} {label}", progress,
                            lambda p, t, r: registry.progress(name, p, t, r))
        async with services.pool.connection() as conn:
            await copies.analyze(conn, label)
        position, retired = await retry_on_lock_timeout(
            lambda: _switch(services, copies, name, label, version, runner))
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(_abandon(services, registry, copies, name, label))
        raise
    async with services.pool.connection() as conn:
        await retry_on_lock_timeout(lambda: copies.drop(conn, retired))
    seconds = time.monotonic() - started
    log.info("rebuild.switched", projection=name, copy=label, version=version,
             retired=retired, events=events, seconds=round(seconds, 3), position=position)
    return RebuildResult(name, label, version, retired, events, seconds, position)


async def _abandon(services: ProjectionServices, registry: CopyRegistry, copies: PgCopies,
                   name: str, label: str) -> None:
    await registry.abandon(name)
    async with services.pool.connection() as conn:
        await copies.drop(conn, label)
        await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                           (f"{name}@{label}",))


async def _switch(services: ProjectionServices, copies: PgCopies, name: str, label: str,
                  version: int, runner: ProjectionRunner) -> tuple[int, str]:
    """One transaction: stop the live writers (the registry row ``FOR UPDATE``), bring
    the new copy to the live position, point the views at it, record it as live with
    its position. Answers (the position, the retired copy's label)."""
    async with services.pool.connection() as conn, conn.transaction():
        live = copy_label(await lock_for_switch(conn, name))
        live_at = await _position(conn, name)
        await runner.catch_up(live_at)  # on other connections of the pool
        position = await runner.projector.position()
        if position < live_at:
            raise RuntimeError(f"{name} {label} stopped at {position}, before the live copy "
                               f"at {live_at}")
        await copies.point_views(conn, label)
        await conn.execute(
            "INSERT INTO projection_positions (name, position) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
            (name, position))
        await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                           (f"{name}@{label}",))
        await record_switch(conn, name, int(label.removeprefix("v")), version)
    return position, live


async def _position(conn: Any, name: str) -> int:
    cur = await conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                             (name,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def verify(settings: Settings, services: ProjectionServices, name: str,
                 progress: Progress = no_progress, limit: int = 1000) -> list[dict[str, Any]]:
    """Rebuild projection ``name`` into a scratch copy and answer every difference from
    the live copy (``infra.copies.PgCopies.differences``: at most ``limit`` per
    table); the scratch copy is dropped whatever happens.

    Both copies are compared at the same position on one snapshot: the live writers
    wait while the scratch copy catches up to the live position and the snapshot is
    taken (a few events), not while the comparison runs.

    Raises:
        NotRebuildable: as ``rebuild``.
        TimeoutError: the live copy did not reach the head the scratch copy was built
            to within ``LIVE_WAIT_S`` (no worker running?).
    """
    copies = _copies(name)
    async with services.pool.connection() as conn:
        await copies.create(conn, SCRATCH)
    try:
        runner = build_copy_runner(
            settings, services, build_copy_projector(settings, services, name, SCRATCH))
        await fill(runner, services, f"verifying {name}", progress)
        built = await runner.projector.position()
        deadline = time.monotonic() + LIVE_WAIT_S
        while await services.positions.position(name) < built:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the live {name} did not reach {built}")
            await asyncio.sleep(0.1)
        async with services.pool.connection() as snap, services.pool.connection() as lock:
            await snap.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                async with lock.transaction():
                    live = copy_label(await lock_for_switch(lock, name))
                    await runner.catch_up(await _position(lock, name))
                    await snap.execute("SELECT 1")  # the snapshot: both copies, one position
                return await copies.differences(snap, live, SCRATCH, limit)
            finally:
                await snap.execute("ROLLBACK")
    finally:
        async with services.pool.connection() as conn:
            await copies.drop(conn, SCRATCH)
            await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                               (f"{name}@{SCRATCH}",))


async def rebuild_outdated(settings: Settings, services: ProjectionServices,
                           progress: Progress = no_progress) -> list[RebuildResult]:
    """Rebuild, blue-green, each projection whose live copy was built by a code version
    below ``ports.projectors.VERSIONS`` (a deployment that bumped it); the worker runs
    this once on start. Each rebuild holds the projection's rebuild lease, taken at
    once or skipped: of several workers starting together one rebuilds, and a
    projection already at the code's version is left alone, so it runs once.
    Projections without copies are only logged (``rebuild --in-place`` is an
    operator's decision: readers would see them fill up)."""
    from infra.bootstrap import rebuild_lease
    from infra.lease import LeaseTimeout

    done: list[RebuildResult] = []
    registry = CopyRegistry(services.pool)
    for name, state in (await registry.states()).items():
        if name not in VERSIONS or state.live_version >= VERSIONS[name]:
            continue
        if not rebuildable(name):
            log.warning("rebuild.version_bump_needs_operator", projection=name,
                        live_version=state.live_version, code_version=VERSIONS[name])
            continue
        try:
            async with rebuild_lease(settings, services.redis, name).hold():
                if (await registry.state(name)).live_version >= VERSIONS[name]:
                    continue  # another worker finished it meanwhile
                done.append(await rebuild(settings, services, name, progress))
        except LeaseTimeout:
            log.info("rebuild.already_running", projection=name)
    return done
