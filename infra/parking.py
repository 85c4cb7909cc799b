"""The parking lot in PostgreSQL (port ``ports.parking.ParkingLot``): ``parked_events``.

The envelope is stored as the bytes of its JSON (``envelope_json`` bytea),
never as ``text`` or ``jsonb``: an event may hold anything (U+0000, numbers
beyond 64 bits), and parking must not fail because of what the event holds.
Rows from before (``envelope`` jsonb) are migrated into bytes by
``infra/schema.sql``; ``take`` still reads one left unmigrated.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import TupleRow, dict_row

from infra.database import AsyncPool
from ports.events import EventEnvelope
from ports.parking import ParkedEvent, envelope_bytes

Conn = AsyncConnection[TupleRow]


def safe_text(value: str, limit: int = 2000) -> str:
    """``value`` as PostgreSQL ``text`` can hold it: U+0000 spelled out, and cut."""
    return value.replace("\x00", "\\x00")[:limit]


async def parked_counts(conn: Conn) -> dict[str, int]:
    """Parked events per projector (projectors with none are absent), on ``conn``:
    ``/health`` reads them on the connection it reads the other positions with."""
    cur = await conn.execute(
        "SELECT projector, count(*) FROM parked_events GROUP BY projector ORDER BY projector")
    return {str(name): int(count) for name, count in await cur.fetchall()}


class PostgresParkingLot:
    """``ParkingLot``: one statement per call, on a connection of ``pool``."""

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool

    async def park(self, projector: str, event: EventEnvelope, error: str, attempts: int
                   ) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO parked_events (projector, position, event_type, envelope_json, "
                "error, attempts) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (projector, position) DO UPDATE SET error = EXCLUDED.error, "
                "attempts = EXCLUDED.attempts, envelope_json = EXCLUDED.envelope_json, "
                "parked_at = now()",
                (projector, event.position, safe_text(event.type, 200), envelope_bytes(event),
                 safe_text(error), attempts),
            )

    async def list_parked(self, projector: str | None = None) -> list[ParkedEvent]:
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT projector, position, event_type, error, attempts, parked_at "
                "FROM parked_events WHERE %s::text IS NULL OR projector = %s "
                "ORDER BY projector, position",
                (projector, projector),
            )
            return [ParkedEvent(projector=row["projector"], position=row["position"],
                                event_type=row["event_type"], error=row["error"],
                                attempts=row["attempts"], parked_at=row["parked_at"])
                    for row in await cur.fetchall()]

    async def counts(self) -> dict[str, int]:
        async with self.pool.connection() as conn:
            return await parked_counts(conn)

    async def take(self, projector: str) -> list[EventEnvelope]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT COALESCE(envelope_json, convert_to(envelope::text, 'UTF8')) "
                "FROM parked_events WHERE projector = %s ORDER BY position",
                (projector,),
            )
            rows = await cur.fetchall()
        return [EventEnvelope.from_json(bytes(row[0])) for row in rows]

    async def release(self, projector: str, position: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM parked_events WHERE projector = %s AND position = %s",
                (projector, position),
            )
