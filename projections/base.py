"""The contract every projector keeps, whatever feeds it events, and the skeleton they share.

``Projector`` is the contract the runner, the worker and the operations
drive. ``StoreProjector`` is the part every projector of ours has in common:
one store that keeps the projector's position with its writes (the read
models in their transaction, the timelines by their advance script...), so
``position`` and ``reset`` go to that store, ``apply`` is a batch of one, and
a batch applies only the events ``after`` the position. ``runs`` groups
consecutive events a projector writes together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar

from ports.events import EventEnvelope
from projections.failures import PositionBehind


class Projector(Protocol):
    """Turns events into idempotent writes and remembers how far it got.

    ``apply`` ignores an event at or below its position, so redelivery
    changes nothing; it records the event's position with (or after) its
    writes, so a crash at any point is repaired by applying the event again.
    """

    name: str

    async def position(self) -> int: ...

    async def apply(self, event: EventEnvelope, *, expected_position: int = 0) -> None: ...

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        """Apply consecutive events at once (those at or below the position are
        skipped); all or nothing where the store allows it.

        Raises ``PositionBehind`` (``projections.failures``), writing nothing, when the
        position read with the writes is below ``expected_position`` (what the caller
        last saw it reach: the store was reset or lost meanwhile)."""
        ...

    async def replay(self, event: EventEnvelope) -> None:
        """Apply ``event``'s writes regardless of the position (parked events)."""
        ...

    async def advance(self, position: int) -> None:
        """Move past ``position`` without applying it (a parked event)."""
        ...

    async def reset(self) -> None:
        """Forget everything, for a rebuild from the first event."""
        ...

    async def after_rebuild(self) -> None:
        """Refresh what a bulk apply leaves stale (the read models' planner statistics)."""
        ...


class PositionedStore(Protocol):
    """What ``StoreProjector`` asks of a projector's store (each port has more)."""

    async def position(self) -> int:
        """The position of the last event applied (0 before the first)."""
        ...

    async def reset(self) -> None:
        """Forget every write and the position."""
        ...


S = TypeVar("S", bound=PositionedStore)


class StoreProjector(ABC, Generic[S]):
    """A ``Projector`` over one ``store`` that records its position with its writes.

    A subclass sets ``name`` and ``store`` and writes ``apply_batch`` (the
    events ``after`` the position, then the last one's position with or after
    the writes), ``replay`` and ``advance``; it overrides ``after_rebuild``
    when its store has something to refresh.
    """

    name: str
    store: S

    async def position(self) -> int:
        return await self.store.position()

    async def apply(self, event: EventEnvelope, *, expected_position: int = 0) -> None:
        await self.apply_batch([event], expected_position=expected_position)

    @abstractmethod
    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None: ...

    @abstractmethod
    async def replay(self, event: EventEnvelope) -> None: ...

    @abstractmethod
    async def advance(self, position: int) -> None: ...

    async def reset(self) -> None:
        await self.store.reset()

    async def after_rebuild(self) -> None:
        """Nothing to refresh."""


def after(position: int, events: Sequence[EventEnvelope], expected_position: int = 0
          ) -> list[EventEnvelope]:
    """The events above ``position`` (the store's, read with the writes), in order:
    those at or below it are applied.

    Raises:
        PositionBehind: ``position`` < ``expected_position``, the position the runner
            last saw the store reach (``Projector.apply_batch``).
    """
    check_not_behind(position, expected_position)
    return [e for e in events if e.position > position]


def check_not_behind(position: int, expected_position: int) -> None:
    """Raises ``PositionBehind`` when the store's ``position`` is below
    ``expected_position``, the position the runner last saw it reach."""
    if position < expected_position:
        raise PositionBehind(f"the projection's position is {position}, below "
                             f"{expected_position} where it was seen: reset or lost")


def runs(events: Sequence[EventEnvelope],
         together: Callable[[EventEnvelope, EventEnvelope], bool]
         ) -> Iterator[list[EventEnvelope]]:
    """``events`` in runs of consecutive events, each ``together(previous, event)`` with
    the one before it; every other event alone."""
    run: list[EventEnvelope] = []
    for event in events:
        if run and not together(run[-1], event):
            yield run
            run = []
        run.append(event)
    if run:
        yield run
