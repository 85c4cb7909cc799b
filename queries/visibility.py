"""Who a reader must not see: blocks (either way) and, in the home timeline, mutes."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow, dict_row


@dataclass(frozen=True, slots=True)
class Hidden:
    blocked: frozenset[int] = frozenset()
    muted: frozenset[int] = frozenset()

    def hides(self, account_id: int, *, with_mutes: bool) -> bool:
        return account_id in self.blocked or (with_mutes and account_id in self.muted)


NOBODY = Hidden()

HIDDEN_SQL = (
    "SELECT blocked_id AS account_id, 'b' AS kind FROM rm_blocks "
    "WHERE blocker_id = %(r)s AND active "
    "UNION ALL SELECT blocker_id, 'b' FROM rm_blocks WHERE blocked_id = %(r)s AND active "
    "UNION ALL SELECT muted_id, 'm' FROM rm_mutes WHERE muter_id = %(r)s AND active"
)


async def hidden_for(conn: AsyncConnection[TupleRow], reader_id: int | None) -> Hidden:
    if reader_id is None:
        return NOBODY
    cur = await conn.cursor(row_factory=dict_row).execute(HIDDEN_SQL, {"r": reader_id})
    rows = await cur.fetchall()
    return Hidden(frozenset(int(r["account_id"]) for r in rows if r["kind"] == "b"),
                  frozenset(int(r["account_id"]) for r in rows if r["kind"] == "m"))
