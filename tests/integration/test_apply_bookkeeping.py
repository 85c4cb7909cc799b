"""The PostgreSQL projectors' bookkeeping in each apply transaction, a round trip each:
the live copy entered (``PgCopies.enter``: its row read ``FOR KEY SHARE`` and the
``search_path`` set, in one statement) and the position read and locked
(``infra.position_rows.lock_position_row``: one statement once the row exists)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from infra.copies import NOTIFICATION_COPIES, READ_MODEL_COPIES, copy_label
from infra.database import AsyncPool
from infra.position_rows import lock_position_row


class CountingConnection:
    """A connection that counts the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements: list[str] = []

    async def execute(self, query: str, params: Any = None) -> Any:
        self.statements.append(query.split()[0])
        return await self.conn.execute(query, params)


async def test_a_new_row_is_made_at_zero_then_read_in_one_statement(pool: AsyncPool) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        async with pool.connection() as conn, conn.transaction():
            counting = CountingConnection(conn)
            assert await lock_position_row(counting, name) == 0  # type: ignore[arg-type]
            assert counting.statements == ["SELECT", "INSERT", "SELECT"]
            await conn.execute("UPDATE projection_positions SET position = 41 WHERE name = %s",
                               (name,))
        async with pool.connection() as conn, conn.transaction():
            counting = CountingConnection(conn)
            assert await lock_position_row(counting, name) == 41  # type: ignore[arg-type]
            assert counting.statements == ["SELECT"]
    finally:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM projection_positions WHERE name = %s", (name,))


async def test_the_row_stays_locked_until_the_transaction_ends(pool: AsyncPool) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        async with pool.connection() as conn:  # made, and committed, first
            await lock_position_row(conn, name)
        async with pool.connection() as holder, holder.transaction():
            await lock_position_row(holder, name)
            async with pool.connection() as other, other.transaction():
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    await other.execute("SELECT position FROM projection_positions "
                                        "WHERE name = %s FOR UPDATE NOWAIT", (name,))
    finally:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM projection_positions WHERE name = %s", (name,))


@pytest.mark.parametrize("copies", [READ_MODEL_COPIES, NOTIFICATION_COPIES],
                         ids=["read_models", "notifications"])
async def test_the_live_copy_is_entered_in_one_statement(pool: AsyncPool, copies: Any) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        async with pool.connection() as conn, conn.transaction():
            counting = CountingConnection(conn)
            assert await copies.enter(counting, name, None) == "v1"  # no row: copy 1
            assert counting.statements == ["SELECT"]
            path = await (await conn.execute("SHOW search_path")).fetchone()
            assert path is not None and path[0] == f"{copies.schema('v1')}, public"
        async with pool.connection() as conn:
            await conn.execute("INSERT INTO projection_copies (name, live_copy, live_version) "
                               "VALUES (%s, 7, 1)", (name,))
        async with pool.connection() as conn:
            async with conn.transaction():
                assert await copies.enter(conn, name, None) == copy_label(7)
                path = await (await conn.execute("SHOW search_path")).fetchone()
                assert path is not None and path[0] == f"{copies.schema('v7')}, public"
                async with pool.connection() as switch, switch.transaction():
                    with pytest.raises(psycopg.errors.LockNotAvailable):  # a switch waits
                        await switch.execute("SELECT live_copy FROM projection_copies "
                                             "WHERE name = %s FOR UPDATE NOWAIT", (name,))
            # as SET LOCAL: gone with the transaction, on the same connection
            path = await (await conn.execute("SHOW search_path")).fetchone()
            assert path is not None and copies.schema("v7") not in path[0]
    finally:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM projection_copies WHERE name = %s", (name,))
