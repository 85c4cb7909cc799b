"""``infra.position_rows.lock_position_row``: the PostgreSQL projectors' position, read and
locked in their apply transaction, in one statement once the row exists."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

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
