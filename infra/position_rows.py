"""The PostgreSQL projectors' positions: one row of ``projection_positions`` each
(``infra/schema.sql``), read and locked in the transaction that applies a batch and
written in it (``infra.read_model_store``, ``infra.notification_store``)."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import TupleRow


async def lock_position_row(conn: AsyncConnection[TupleRow], name: str) -> int:
    """Projector ``name``'s position in ``projection_positions``, its row locked ``FOR
    UPDATE`` until ``conn``'s transaction ends (so applies from several processes run
    one after the other); the row is made (at 0) the first time.

    One round trip once the row exists: the ``SELECT ... FOR UPDATE`` first, and the
    ``INSERT ... ON CONFLICT DO NOTHING`` (then the ``SELECT`` again) only when it found
    no row. Before, every apply sent the ``INSERT`` first: a round trip per batch of the
    read models and of the notifications (docs/performance.md).
    """
    select = "SELECT position FROM projection_positions WHERE name = %s FOR UPDATE"
    row = await (await conn.execute(select, (name,))).fetchone()
    if row is None:
        await conn.execute("INSERT INTO projection_positions (name, position) VALUES (%s, 0) "
                           "ON CONFLICT (name) DO NOTHING", (name,))
        row = await (await conn.execute(select, (name,))).fetchone()
    return int(row[0]) if row else 0
