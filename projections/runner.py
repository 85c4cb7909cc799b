"""Feeds events to one projector: in order, without gaps, without silent skips.

Whatever delivers events (a Faust agent, a rebuild loop), the runner makes
sure the projector sees every event of the log exactly in order:

* an event at or below the projector's position is a redelivery: ignored;
* an event beyond the next one means something was missed (a message lost,
  a store wiped): the missing range is read from the event store first;
* an event whose projection fails is retried with exponential backoff, then
  parked where an operator sees it (``roost projections parked``) and can
  replay it, and the projector moves on;
* an event of a type no event class has (``known_types``) is parked at once;
* the position is read from the store when the runner starts, catches up or was
  told it is behind, not before every delivered batch: the runner keeps the position
  it last read or applied up to and names it to each apply (``expected_position``),
  which re-reads the position with its writes and raises ``PositionBehind`` if the
  store is below it (reset or wiped by another process; a park checks the same before
  it advances past its event); the runner then reads it again and catches up from
  there;
* a failure that says a dependency is unavailable (``projections.failures``:
  a ``DependencyUnavailable``, or what the injected ``transient`` check says is
  one, e.g. PostgreSQL or Redis unreachable) parks nothing: it is raised, and so
  is a failure to park. The position stays before the event in both cases, so the
  caller (a supervised loop) backs off and resumes from the recorded position.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import structlog

from ports.events import EventEnvelope
from ports.parking import ParkingLot
from projections.base import Projector, check_not_behind
from projections.failures import (
    PositionBehind,
    TransientCheck,
    UnknownEventType,
    declared_unavailable,
)

log = structlog.get_logger(__name__)

ReadLog = Callable[[int, int], Awaitable[list[EventEnvelope]]]
"""``read_log(after, upto)``: a page of stored events with after < position <= upto."""
Lease = Callable[[], AbstractAsyncContextManager[None]]
"""Held around each apply, for projectors shared by several processes."""
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
"""``sleep(seconds)``: waits between the attempts at a failing event."""


class ProjectionRunner:
    def __init__(
        self,
        projector: Projector,
        read_log: ReadLog,
        parking: ParkingLot,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        on_applied: Callable[[str, EventEnvelope], None] | None = None,
        on_parked: Callable[[str, EventEnvelope], None] | None = None,
        lease: Lease | None = None,
        batch_size: int = 200,
        known_types: frozenset[str] | None = None,
        sleep: Sleep = asyncio.sleep,
        transient: TransientCheck = declared_unavailable,
    ) -> None:
        """``transient`` tells a store's outage from the event's own failure (the
        composition root passes ``infra.failures.is_transient``, which knows the
        drivers); ``DependencyUnavailable`` is transient whatever it says."""
        self.projector = projector
        self.read_log = read_log
        self.parking = parking
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.on_applied = on_applied
        self.on_parked = on_parked
        self.lease: Lease = lease or contextlib.nullcontext
        self.batch_size = batch_size
        self.known_types = known_types
        self.sleep = sleep
        self.transient = transient
        # The live stream and the periodic sweep share this runner; applying
        # two copies of the log interleaved could reorder a follow and an
        # unfollow, so one apply sequence runs at a time.
        self._lock = asyncio.Lock()
        # The position this runner last read or applied up to (None: read it): a
        # lower bound of the store's while nothing else resets it, which each apply
        # checks (``expected_position``). It spares a delivered batch the position's
        # read before it (one round trip per projector and batch, two for the search
        # index), which every apply makes again with its writes.
        self._seen: int | None = None

    async def handle(self, event: EventEnvelope) -> None:
        """Apply ``event`` and, first, anything before it the projector lacks."""
        await self.handle_batch([event])

    async def handle_batch(self, events: Sequence[EventEnvelope]) -> None:
        """Apply delivered events (any order, maybe repeated) and any the projector lacks.

        Events that follow the position without a hole are applied as one
        batch; otherwise the whole range is read from the event store, which
        also fills the holes.
        """
        async with self._lock:
            await self._again_if_behind(lambda: self._handle(events))

    async def _again_if_behind(self, run: Callable[[], Awaitable[T]]) -> T:
        """``run()``, and once more after ``PositionBehind`` (the store was reset or lost
        since the runner saw it: ``_seen`` is forgotten and read again). A second
        ``PositionBehind`` (another reset meanwhile) is raised to the supervised loop."""
        try:
            return await run()
        except PositionBehind as behind:
            log.warning("projection.position_behind", projector=self.projector.name,
                        seen=self._seen, error=str(behind))
            self._seen = None
            return await run()

    async def _handle(self, events: Sequence[EventEnvelope]) -> None:
        if self._seen is None:
            self._seen = await self.projector.position()
        position = self._seen
        fresh = sorted({e.position: e for e in events if e.position > position}.values(),
                       key=lambda e: e.position)
        if not fresh:
            return
        positions = [position, *(e.position for e in fresh)]
        if all(b == a + 1 for a, b in itertools.pairwise(positions)):
            await self._apply_batch(fresh)
        else:
            await self._catch_up(upto=fresh[-1].position)

    async def reset(self) -> None:
        """Empty the projection, for a rebuild (under the lease, so no apply is half done)."""
        async with self._lock, self.lease():
            self._seen = None
            await self.projector.reset()

    async def catch_up(self, upto: int) -> int:
        """Apply every stored event up to ``upto``; how many were applied."""
        async with self._lock:
            return await self._again_if_behind(lambda: self._catch_up(upto))

    async def _catch_up(self, upto: int) -> int:
        applied = 0
        position = self._seen = await self.projector.position()
        while position < upto:
            page = await self.read_log(position, upto)
            if not page:
                break
            for start in range(0, len(page), self.batch_size):
                await self._apply_batch(page[start:start + self.batch_size])
            applied += len(page)
            position = page[-1].position
        if applied:
            log.info("projection.caught_up", projector=self.projector.name, events=applied,
                     position=position)
        return applied

    async def _apply_batch(self, events: Sequence[EventEnvelope]) -> None:
        """One transaction / one lease for the lot; event by event if it fails,
        so only the event at fault is retried and, at worst, parked."""
        if self.known_types is not None and any(
                e.type not in self.known_types for e in events):
            for event in events:
                if event.type in self.known_types:
                    await self._apply(event)
                else:
                    await self._park(event, UnknownEventType(f"unknown event type "
                                                             f"{event.type!r}"), 0)
            return
        if len(events) == 1:
            await self._apply(events[0])
            return
        try:
            async with self.lease():
                await self.projector.apply_batch(  # re-checks the position
                    events, expected_position=self._seen or 0)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if self._is_transient(error):
                raise
            log.warning("projection.batch_failed", projector=self.projector.name,
                        first=events[0].position, last=events[-1].position, error=repr(error))
            for event in events:
                await self._apply(event)
        else:
            self._reached(events[-1].position)
            if self.on_applied is not None:
                for event in events:
                    self.on_applied(self.projector.name, event)

    async def _apply(self, event: EventEnvelope) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self.lease():
                    await self.projector.apply(  # re-checks the position
                        event, expected_position=self._seen or 0)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._is_transient(error):
                    raise
                log.warning("projection.retry", projector=self.projector.name,
                            position=event.position, type=event.type, attempt=attempt,
                            error=repr(error))
                if attempt == self.max_attempts:
                    await self._park(event, error, attempt)
                    return
                await self.sleep(self.backoff_s * 2 ** (attempt - 1))
            else:
                self._reached(event.position)
                if self.on_applied is not None:
                    self.on_applied(self.projector.name, event)
                return

    def _reached(self, position: int) -> None:
        """The store's position is now at least ``position`` (an apply or advance of it
        succeeded)."""
        self._seen = max(self._seen or 0, position)

    def _is_transient(self, error: BaseException) -> bool:
        return declared_unavailable(error) or self.transient(error)

    async def _park(self, event: EventEnvelope, error: Exception, attempts: int) -> None:
        """Record ``event`` as parked, then move past it (in that order: if parking
        fails, the error is raised and the position stays before the event)."""
        log.error("projection.parked", projector=self.projector.name, position=event.position,
                  type=event.type, error=repr(error))
        await self.parking.park(self.projector.name, event, repr(error), attempts)
        async with self.lease():
            # No apply re-read the position for an event parked unapplied (an unknown
            # type): if the store was reset since the runner saw it, advancing would
            # skip the log up to here. Parking again later is an upsert.
            if self._seen:
                check_not_behind(await self.projector.position(), self._seen)
            await self.projector.advance(event.position)
        self._reached(event.position)
        if self.on_parked is not None:
            self.on_parked(self.projector.name, event)
