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

The PostgreSQL projections' copies are schemas behind views (``infra.copies``),
the search index's index generations behind aliases (``infra.search_copies``), the
Redis projections' key namespaces behind a pointer (``infra.redis_copies``; a read
that pinned the old copy may still be running at the switch, so that copy is
unlinked a grace period after it).

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

from infra.bootstrap import (
    ProjectionServices,
    build_copy_projector,
    build_copy_runner,
    build_copy_timeline_store,
    projector_lease,
)
from infra.copies import (
    PG_COPIES,
    SCRATCH,
    SWITCH_TRIES,
    CopyRegistry,
    PgCopies,
    copy_label,
    copy_number,
    lock_for_switch,
    record_switch,
    retry_on_lock_timeout,
)
from infra.eventlog import max_position, read_envelopes
from infra.redis_copies import LivePointer, copies_present, unlink_copy
from infra.redis_copies import differences as copy_differences
from infra.redis_keys import RedisKeys
from infra.search_copies import (
    differences as search_differences,
)
from infra.search_copies import (
    drop_generation,
    generation_index,
    live_generation,
    switch_aliases,
)
from infra.search_schema import SearchNames
from infra.settings import Settings
from infra.timeline_copies import carry_ttls, drop_copy, make_copy
from infra.timeline_copies import differences as timeline_differences
from infra.timeline_store import RedisTimelineStore
from infra.trend_counters import (
    TREND_KINDS,
    RedisTrendCounters,
    is_answer,
    outlived,
    trend_patterns,
)
from ports.projectors import NOTIFICATIONS, SEARCH, TIMELINES, TRENDS, VERSIONS
from projections.read_models import ReadModelProjector
from projections.runner import ProjectionRunner

log = structlog.get_logger(__name__)

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
    """The projection has no blue-green copies yet (``STRATEGIES``)."""


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild did: ``name`` is now served by copy ``copy`` (label ``v<n>``)
    built at code ``version`` from ``events`` events in ``seconds`` (to the switch;
    the old copy's retirement after it not counted); ``retired`` is the label of the
    dropped copy."""

    name: str
    copy: str
    version: int
    retired: str
    events: int
    seconds: float
    position: int


class Copies(Protocol):
    """How one projection's copies are made, switched, compared and dropped (one
    implementation per store). ``label`` is ``v<n>`` or ``SCRATCH``."""

    name: str

    async def sync(self) -> None:
        """Bring the registry's live copy in line with the store's, where the store
        says it (the search aliases)."""

    async def create(self, label: str) -> None: ...

    async def drop(self, label: str) -> None: ...

    async def settle(self, label: str) -> None:
        """Make a filled copy ready for readers (planner statistics)."""

    async def switch(self, label: str, version: int, runner: ProjectionRunner
                     ) -> tuple[int, str]:
        """Bring the copy to the live position with the live writers held, switch
        readers and writers to it in one step, record it as live at ``version``:
        (its position, the retired copy's label)."""
        ...

    async def retire(self, label: str) -> None:
        """Drop copy ``label``, which a switch has just retired (when no read can still
        be using it)."""

    async def compare(self, label: str, runner: ProjectionRunner, limit: int
                      ) -> list[dict[str, Any]]:
        """Bring copy ``label`` to the live position with the live writers held and
        answer the differences (``infra.copies.PgCopies.differences``' shape)."""
        ...


@dataclass
class PostgresCopies:
    """``Copies`` of a PostgreSQL projection (``infra.copies.PgCopies``): the switch is
    one transaction that holds the registry row ``FOR UPDATE`` (the live writers
    wait on it), points the views at the new schema and records it."""

    name: str
    services: ProjectionServices
    tables: PgCopies

    async def sync(self) -> None:
        """Nothing: the registry is where the live copy is recorded."""

    async def create(self, label: str) -> None:
        async with self.services.pool.connection() as conn:
            await self.tables.create(conn, label)

    async def drop(self, label: str) -> None:
        async with self.services.pool.connection() as conn:
            await retry_on_lock_timeout(lambda: self.tables.drop(conn, label))
            await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                               (f"{self.name}@{label}",))

    async def settle(self, label: str) -> None:
        async with self.services.pool.connection() as conn:
            await self.tables.analyze(conn, label)

    async def retire(self, label: str) -> None:
        """Drop it: a statement still reading it holds the drop back until it ends."""
        await self.drop(label)

    async def switch(self, label: str, version: int, runner: ProjectionRunner
                     ) -> tuple[int, str]:
        live_at = 0

        async def attempt() -> tuple[int, str]:
            nonlocal live_at
            async with self.services.pool.connection() as conn, conn.transaction():
                live = copy_label(await lock_for_switch(conn, self.name))
                live_at = await _position(conn, self.name)
                position = await _caught_up(runner, live_at, label)
                await self.tables.point_views(conn, label)
                await conn.execute(
                    "INSERT INTO projection_positions (name, position) VALUES (%s, %s) ON "
                    "CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, "
                    "updated_at = now()", (self.name, position))
                await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                                   (f"{self.name}@{label}",))
                await record_switch(conn, self.name, copy_number(label), version)
                await self.switched(label)
            return position, live

        result: tuple[int, str] = await retry_on_lock_timeout(attempt, SWITCH_TRIES)
        await self.after_switch(live_at, result[0])
        return result

    async def switched(self, label: str) -> None:
        """In the switch's transaction, its last step: nothing more to move."""

    async def after_switch(self, live_at: int, copy_at: int) -> None:
        """After the switch committed: the events in ``(live_at, copy_at]`` were applied
        by the copy's projector only. The read models' live projector hands the caches
        (post counts, page facts) what they changed; the copy's projector writes no
        cache, since a copy being built is not what readers read."""
        projector = self.services.projectors.get(self.name)
        if copy_at <= live_at or not isinstance(projector, ReadModelProjector):
            return
        async with self.services.pool.connection() as conn:
            after = live_at
            while after < copy_at:
                events = await read_envelopes(conn, after, copy_at, limit=2_000)
                if not events:
                    break
                await projector.refresh_caches(events)
                after = events[-1].position

    async def compare(self, label: str, runner: ProjectionRunner, limit: int
                      ) -> list[dict[str, Any]]:
        pool = self.services.pool
        async with pool.connection() as snap, pool.connection() as lock:
            await snap.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                async with lock.transaction():
                    live = copy_label(await lock_for_switch(lock, self.name))
                    await runner.catch_up(await _position(lock, self.name))
                    await snap.execute("SELECT 1")  # the snapshot: both copies, one position
                return await self.tables.differences(snap, live, label, limit)
            finally:
                await snap.execute("ROLLBACK")


@dataclass
class SearchCopies:
    """``Copies`` of the search index (``infra.search_copies``): generations behind the
    aliases. The switch and the comparison hold the search projector's lease (every
    live apply runs under it); the switch is one ``_aliases`` call."""

    settings: Settings
    services: ProjectionServices
    name: str = SEARCH

    @property
    def names(self) -> SearchNames:
        return self.services.search.names

    async def _live(self) -> int:
        live = await live_generation(self.services.search.client, self.names)
        return live if live is not None else self.names.generation

    async def sync(self) -> None:
        await CopyRegistry(self.services.pool).sync_live(self.name, await self._live())

    async def create(self, label: str) -> None:
        """Make copy ``label``'s indices. The live generation's indices and aliases are
        made first when nothing has made them yet (no worker has run): the copy's
        indices would otherwise take the missing aliases, and the switch would find the
        copy already live and retire it."""
        if await live_generation(self.services.search.client, self.names) is None:
            await self.services.search.ensure()
        await self.drop(label)  # a leftover of a build that did not finish
        await generation_index(self.services.search, copy_number(label)).ensure()

    async def drop(self, label: str) -> None:
        await drop_generation(self.services.search.client, self.names, copy_number(label))

    async def settle(self, label: str) -> None:
        """Nothing: every write is searchable when it returns."""

    async def retire(self, label: str) -> None:
        """Drop it (a search under way on it answers from what it has opened)."""
        await self.drop(label)

    def _held(self) -> Any:
        return projector_lease(self.settings, self.services.redis, self.name).hold()

    async def switch(self, label: str, version: int, runner: ProjectionRunner
                     ) -> tuple[int, str]:
        async with self._held():
            live = await self._live()
            position = await _caught_up(runner, await self.services.search.position(), label)
            await switch_aliases(self.services.search.client, self.names, live, copy_number(label))
            async with self.services.pool.connection() as conn, conn.transaction():
                await record_switch(conn, self.name, copy_number(label), version)
        return position, copy_label(live)

    async def compare(self, label: str, runner: ProjectionRunner, limit: int
                      ) -> list[dict[str, Any]]:
        async with self._held():
            live = await self._live()
            await runner.catch_up(await self.services.search.position())
            return await search_differences(self.services.search.client, self.names, live,
                                            copy_number(label), limit)


async def _caught_up(runner: ProjectionRunner, live_at: int, label: str) -> int:
    """Apply the copy up to ``live_at`` (the live writers are held); its position."""
    await runner.catch_up(live_at)
    position = await runner.projector.position()
    if position < live_at:
        raise RuntimeError(f"{runner.projector.name} {label} stopped at {position}, before "
                           f"the live copy at {live_at}")
    return position


@dataclass
class RedisCopies:
    """``Copies`` of a projection kept in Redis (``infra.redis_copies``): key namespaces
    behind a live pointer. The switch holds the projector's lease (every live apply
    runs under it and first re-reads the pointer), catches the copy up and ``SET``s the
    pointer; the retired copy is unlinked ``Settings.rebuild_retire_grace_s`` later,
    when the reads that pinned it are done. Subclasses say which keys are a copy's
    (``drop``), what a new copy starts with (``prepare``) and how two compare
    (``differences``)."""

    settings: Settings
    services: ProjectionServices
    name: str

    @property
    def base(self) -> RedisKeys:
        """The prefix's key layout (copy ``v1``'s)."""
        return RedisKeys(self.settings.redis_prefix)

    @property
    def pointer(self) -> LivePointer:
        return LivePointer(self.services.redis, self.base, self.name)

    async def sync(self) -> None:
        await CopyRegistry(self.services.pool).sync_live(
            self.name, copy_number(await self.pointer.read()))

    async def create(self, label: str) -> None:
        """Drop a leftover of copy ``label`` and, for a rebuild, every copy that is
        neither live nor this one (left by a rebuild stopped after its switch), then
        ``prepare`` it."""
        await self.drop(label)
        if label != SCRATCH:
            live = await self.pointer.read()
            present = await copies_present(self.services.redis, self.base, self.name)
            if live != copy_label(1):
                present.add(copy_label(1))
            for stale in sorted(present - {live, label, SCRATCH}):
                await self.drop(stale)
        await self.prepare(label)

    async def drop(self, label: str) -> None:
        raise NotImplementedError

    async def prepare(self, label: str) -> None:
        """Nothing to start a copy with."""

    async def settle(self, label: str) -> None:
        """Nothing to refresh."""

    def _held(self) -> Any:
        return projector_lease(self.settings, self.services.redis, self.name).hold()

    async def switch(self, label: str, version: int, runner: ProjectionRunner
                     ) -> tuple[int, str]:
        pointer = self.pointer
        async with self._held():
            live = await pointer.read()
            position = await _caught_up(
                runner, await self.services.positions.position(self.name), label)
            await pointer.switch(label)
            try:
                async with self.services.pool.connection() as conn, conn.transaction():
                    await record_switch(conn, self.name, copy_number(label), version)
            except BaseException:  # not recorded: the old copy stays live
                await asyncio.shield(pointer.switch(live))
                raise
        return position, live

    async def retire(self, label: str) -> None:
        await self.handed_over(label, await self.pointer.read())
        await asyncio.sleep(self.settings.rebuild_retire_grace_s)
        await self.drop(label)

    async def handed_over(self, old: str, new: str) -> None:
        """Just after the switch from copy ``old`` to ``new``: nothing to carry over."""

    async def compare(self, label: str, runner: ProjectionRunner, limit: int
                      ) -> list[dict[str, Any]]:
        async with self._held():
            live = await self.pointer.read()
            await runner.catch_up(await self.services.positions.position(self.name))
            return await self.differences(live, label, limit)

    async def differences(self, live: str, label: str, limit: int) -> list[dict[str, Any]]:
        raise NotImplementedError


@dataclass
class TimelineCopies(RedisCopies):
    """The home timelines' copies (``infra.timeline_copies``). A new copy keeps the
    readers the live one keeps, for as long; after the switch it takes over the TTLs
    reads renewed in the old one meanwhile. The comparison holds the timeline
    projector's lease; the home query's own writes (keeping a timeline, rebuilding one
    on read) are not held, so a reader arriving during it can show as a difference."""

    name: str = TIMELINES

    def store(self, label: str) -> RedisTimelineStore:
        return build_copy_timeline_store(self.settings, self.services, label)

    async def drop(self, label: str) -> None:
        await drop_copy(self.services.redis, self.base, label, self.settings.fanout_batch)

    async def prepare(self, label: str) -> None:
        await make_copy(self.store(label), self.pointer.keys(await self.pointer.read()),
                        int(self.settings.active_days * 86400), self.settings.fanout_batch)

    async def handed_over(self, old: str, new: str) -> None:
        pointer = self.pointer
        await carry_ttls(self.services.redis, pointer.keys(old), pointer.keys(new),
                         self.settings.fanout_batch)

    async def differences(self, live: str, label: str, limit: int) -> list[dict[str, Any]]:
        pointer = self.pointer
        return await timeline_differences(self.services.redis, pointer.keys(live),
                                          pointer.keys(label), limit)


@dataclass
class TrendCopies(RedisCopies):
    """The trend counters' copies (``infra.trend_counters``): a new copy starts empty;
    the switch forgets the answers computed from the old one (stored under the prefix,
    whichever copy is live)."""

    name: str = TRENDS

    async def drop(self, label: str) -> None:
        await unlink_copy(self.services.redis, self.base, TRENDS, label, TREND_KINDS,
                          exact=[self.base.projection_position(TRENDS)], shared=is_answer)

    async def handed_over(self, old: str, new: str) -> None:
        await RedisTrendCounters(self.services.redis, self.base).forget_answers()

    async def differences(self, live: str, label: str, limit: int) -> list[dict[str, Any]]:
        """The counters that differ (not the answers, nor counters at the end of their
        TTL: ``infra.trend_counters.outlived``)."""
        pointer = self.pointer
        now_s = int(time.time())
        return await copy_differences(
            self.services.redis, pointer.keys(live), pointer.keys(label), trend_patterns,
            limit, depth=3, skip=lambda suffix: is_answer(suffix) or outlived(suffix, now_s))


@dataclass
class NotificationCopies(PostgresCopies):
    """The notification groups' copies: schemas ``ntf_vN`` behind views
    (``PostgresCopies``), each with its hot hashes under its Redis namespace behind the
    pointer (``infra.redis_copies``), which the switch moves as the last step of its
    transaction (moved back if that does not commit). The comparison is of the
    tables: the hashes are rewritten from them with every write (a rebuilt copy also
    has those of recipients whose live hash expired)."""

    settings: Settings

    @property
    def pointer(self) -> LivePointer:
        return LivePointer(self.services.redis, RedisKeys(self.settings.redis_prefix),
                           self.name)

    async def create(self, label: str) -> None:
        await super().create(label)
        await self._unlink_hot(label)  # a leftover

    async def drop(self, label: str) -> None:
        await super().drop(label)
        await self._unlink_hot(label)

    async def _unlink_hot(self, label: str) -> None:
        pointer = self.pointer
        await unlink_copy(self.services.redis, pointer.base, self.name, label, ("notif",))

    async def switch(self, label: str, version: int, runner: ProjectionRunner
                     ) -> tuple[int, str]:
        pointer = self.pointer
        before = await pointer.read()
        try:
            return await super().switch(label, version, runner)
        except BaseException:
            await asyncio.shield(pointer.switch(before))
            raise

    async def switched(self, label: str) -> None:
        await self.pointer.switch(label)

    async def retire(self, label: str) -> None:
        """Drop it once a hot read that found it live just before has returned."""
        await asyncio.sleep(self.settings.rebuild_retire_grace_s)
        await self.drop(label)


def copies_of(settings: Settings, services: ProjectionServices, name: str) -> Copies:
    """The ``Copies`` of projection ``name``.

    Raises:
        NotRebuildable: it has none yet (see ``rebuildable``).
    """
    if name == NOTIFICATIONS:
        return NotificationCopies(name, services, PG_COPIES[name], settings)
    if name in PG_COPIES:
        return PostgresCopies(name, services, PG_COPIES[name])
    if name == SEARCH:
        return SearchCopies(settings, services)
    if name == TIMELINES:
        return TimelineCopies(settings, services)
    if name == TRENDS:
        return TrendCopies(settings, services)
    raise NotRebuildable(f"{name} has no blue-green copies yet; rebuildable: "
                         f"{', '.join(sorted(REBUILDABLE))}")


REBUILDABLE: Final = frozenset({*PG_COPIES, SEARCH, TIMELINES, TRENDS})
"""The projections with blue-green copies."""
VERIFIABLE: Final = REBUILDABLE
"""The projections ``verify`` can check."""


def rebuildable(name: str) -> bool:
    """Whether ``name`` has blue-green copies (else only the in-place rebuild)."""
    return name in REBUILDABLE


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
    progress(phase, position, target, 0.0)
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
        psycopg / Elasticsearch errors: a store failed; the new copy is dropped and
            the live one serves on, untouched.
    """
    copies = copies_of(settings, services, name)
    registry = CopyRegistry(services.pool)
    version = VERSIONS[name]
    started = time.monotonic()
    await copies.sync()
    state, stale = await registry.begin(name, version)
    assert state.building_copy is not None
    label = copy_label(state.building_copy)
    log.info("rebuild.started", projection=name, copy=label, version=version,
             live=copy_label(state.live_copy))
    if stale is not None:
        await copies.drop(copy_label(stale))
    try:
        await copies.create(label)
        runner = build_copy_runner(settings, services,
                                   build_copy_projector(settings, services, name, label))
        events = await fill(runner, services, f"building {name} {label}", progress,
                            lambda p, t, r: registry.progress(name, p, t, r))
        await copies.settle(label)
        position, retired = await copies.switch(label, version, runner)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(_abandon(registry, copies, label))
        raise
    seconds = time.monotonic() - started
    log.info("rebuild.switched", projection=name, copy=label, version=version,
             retired=retired, events=events, seconds=round(seconds, 3), position=position)
    await copies.retire(retired)
    log.info("rebuild.retired", projection=name, copy=retired)
    return RebuildResult(name, label, version, retired, events, seconds, position)


async def _abandon(registry: CopyRegistry, copies: Copies, label: str) -> None:
    await registry.abandon(copies.name)
    await copies.drop(label)


async def _position(conn: Any, name: str) -> int:
    cur = await conn.execute("SELECT position FROM projection_positions WHERE name = %s",
                             (name,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def verify(settings: Settings, services: ProjectionServices, name: str,
                 progress: Progress = no_progress, limit: int = 1000) -> list[dict[str, Any]]:
    """Rebuild projection ``name`` into a scratch copy and answer every difference from
    the live copy (at most ``limit`` per table or index: dicts ``{"table", "key",
    "kind": "changed" | "missing" | "extra", "columns": {column: [live, rebuilt]}}``);
    the scratch copy is dropped whatever happens.

    Both copies are compared at the same position: the live writers are held while
    the scratch copy catches up to the live position (PostgreSQL: and a snapshot is
    taken, the comparison runs on it afterwards; the search index: for the whole
    comparison).

    Raises:
        NotRebuildable: as ``rebuild``.
        TimeoutError: the live copy did not reach the head the scratch copy was built
            to within ``LIVE_WAIT_S`` (no worker running?).
    """
    copies = copies_of(settings, services, name)
    await copies.create(SCRATCH)
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
        return await copies.compare(SCRATCH, runner, limit)
    finally:
        await copies.drop(SCRATCH)


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
    from infra.lease import LeaseLost, LeaseTimeout

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
        except LeaseLost:  # another worker may have taken it over: it finishes or retries
            log.warning("rebuild.lease_lost", projection=name)
    return done
