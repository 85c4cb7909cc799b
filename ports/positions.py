"""Projector positions: how far each projector has applied the event store's log.

Each projector records its own position with its own writes (the read models
in the transaction of their rows, the timelines by the script that advances
it), so the position never runs ahead of what it stands for. This port is
the one way everything else reads them: read-your-writes waits
(``queries.positions``), ``/health`` and ``/metrics``, ``roost projections``.
A position is the event store's notification id of the last event applied
(or moved past), comparable with ``Roost-Position``; it only grows, but for a
rebuild, which starts it again from 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ports.projectors import PROJECTORS


class ProjectionPositions(Protocol):
    async def position(self, projector: str) -> int:
        """The position of ``projector`` (a name of ``ports.projectors``); 0 when it has
        recorded none yet (never run, or just reset).

        Raises:
            Whatever the store raises when it cannot be reached (psycopg, redis-py).
        """
        ...

    async def positions(self, projectors: Sequence[str] = PROJECTORS) -> dict[str, int]:
        """``{name: position}`` for each of ``projectors``, in that order (one read
        each, as ``position``)."""
        ...
