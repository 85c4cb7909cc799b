"""Parked events: those a projector failed on, kept for an operator to replay."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from projections.envelope import EventEnvelope

Conn = AsyncConnection[TupleRow]


class PostgresParkingLot:
    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self.pool = pool

    async def park(self, projector: str, event: EventEnvelope, error: str, attempts: int
                   ) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO parked_events (projector, position, event_type, envelope, error, "
                "attempts) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (projector, position) "
                "DO UPDATE SET error = EXCLUDED.error, attempts = EXCLUDED.attempts, "
                "parked_at = now()",
                (projector, event.position, event.type, Jsonb(_as_dict(event)), error, attempts),
            )

    async def list_parked(self, projector: str | None = None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT projector, position, event_type, error, attempts, parked_at "
                "FROM parked_events WHERE %s::text IS NULL OR projector = %s "
                "ORDER BY projector, position",
                (projector, projector),
            )
            names = [c.name for c in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def take(self, projector: str) -> list[EventEnvelope]:
        """The parked events of ``projector``, oldest first."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT envelope FROM parked_events WHERE projector = %s ORDER BY position",
                (projector,),
            )
            rows = await cur.fetchall()
        return [EventEnvelope(**row[0]) for row in rows]

    async def release(self, projector: str, position: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM parked_events WHERE projector = %s AND position = %s",
                (projector, position),
            )


def _as_dict(event: EventEnvelope) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(event)
