"""The notifications store (``ports.notifications``): PostgreSQL, with the hot parts in Redis.

PostgreSQL (``notification_store.sql``) holds everything, durable: the groups,
their members (one row per cause, so a like is one insert and one update of its
group, whatever the group's size), and what the projection keeps of the social
graph. A batch is one transaction that locks the projector's row in
``projection_positions`` first, so it is applied exactly once however many
processes apply the log.

The tables are a copy of the projection (``infra.copies``: schema ``ntf_vN``, read
through views of the same names in ``public``); a store without ``copy`` writes the
live copy, a rebuild's store its own. Each copy has its hot hashes under its Redis
namespace (``infra.redis_copies``: copy ``v1``'s under the prefix itself); readers
find the live one by the pointer, read in the same pipeline as the hash, which a
blue-green switch moves in its transaction.

Redis holds, per recipient, one hash ``notif:{<account>}`` that answers the hot
reads without PostgreSQL: ``prefs`` (the six preferences), ``unread`` (unread
groups per type), ``total`` (groups) and ``newest`` (the newest ``hot_groups``
groups, as the reader sees them). Only the projector writes it: just before a
batch commits, the hash of every recipient the batch touched is rewritten whole
from the transaction's own view (absolute values: a retried or repeated batch
writes the same). So once the position is visible, the hash is at least as new
(as the post cache's counts are). A hash that is missing (expired after
``cache_ttl_s`` without a write, or lost) makes readers use PostgreSQL until the
recipient's next notification rewrites it; readers never fill it, so they never
race the projector.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.notifications import DEFAULT_PREFERENCES
from infra.copies import NOTIFICATION_COPIES, NOTIFICATION_TABLES
from infra.position_rows import lock_position_row
from infra.redis_cleanup import unlink_matching
from infra.redis_clients import by_slot, is_cluster
from infra.redis_copies import LivePointer
from infra.redis_keys import RedisKeys
from infra.serialization import rfc3339
from ports.errors import DependencyUnavailable
from ports.notifications import (
    MAX_LISTED,
    EdgeKind,
    OpenGroup,
    Relation,
    StoredGroup,
    Summary,
)
from ports.projectors import NOTIFICATIONS

Conn = AsyncConnection[TupleRow]
TABLES = NOTIFICATION_TABLES
GROUP_COLUMNS = "g.id, g.kind, g.post_id, g.accounts_count, g.latest_at, g.sort_key, g.read"


def schema_sql() -> str:
    return resources.files("infra").joinpath("notification_store.sql").read_text()


def hot_key(prefix: str, recipient: int) -> str:
    return f"{prefix}notif:{{{recipient}}}"


# Every kind is named so that the primary key (kind, a, b) serves both branches: with
# "a = r AND b = x" alone PostgreSQL scanned the whole table for each event applied
# (27 ms at 211,000 edges, 0.1 ms by the key; docs/performance.md, "Blue-green rebuilds").
RELATION_QUERY = (
    "SELECT kind, a = %(r)s FROM ntf_edges WHERE active AND ("
    "(kind IN ('follow', 'block', 'mute') AND a = %(r)s AND b = %(x)s) "
    "OR (kind = 'block' AND a = %(x)s AND b = %(r)s))"
)
_OPEN_GROUP = (
    "SELECT id, first_at FROM ntf_groups WHERE recipient_id = %s AND kind = %s "
    "AND target_id = %s ORDER BY id DESC LIMIT 1"
)
_INSERT_MEMBER = (
    "INSERT INTO ntf_members (recipient_id, kind, target_id, account_id, group_id, position, at)"
    " VALUES (%(r)s, %(kind)s, %(target)s, %(account)s, %(g)s, %(position)s, %(at)s)"
    " ON CONFLICT DO NOTHING RETURNING position, at"
)
_CREATE_GROUP = (
    f"WITH m AS ({_INSERT_MEMBER}) "  # noqa: S608
    "INSERT INTO ntf_groups (recipient_id, id, kind, target_id, post_id, first_at, latest_at, "
    "sort_key, accounts_count) SELECT %(r)s, %(g)s, %(kind)s, %(target)s, %(post)s, m.at, m.at, "
    "m.position, 1 FROM m ON CONFLICT DO NOTHING RETURNING 1"
)
_ADD_MEMBER = (
    f"WITH m AS ({_INSERT_MEMBER}) "  # noqa: S608
    "UPDATE ntf_groups g SET accounts_count = g.accounts_count + 1, read = false, "
    "latest_at = CASE WHEN m.position >= g.sort_key THEN m.at ELSE g.latest_at END, "
    "sort_key = GREATEST(g.sort_key, m.position) "
    "FROM m WHERE g.recipient_id = %(r)s AND g.id = %(g)s RETURNING 1"
)
# After members left a group: drop it if empty, else recount and move it to its
# newest remaining member.
_DROP_IF_EMPTY = (
    "DELETE FROM ntf_groups g WHERE g.recipient_id = %(r)s AND g.id = %(g)s AND NOT EXISTS "
    "(SELECT 1 FROM ntf_members m WHERE m.recipient_id = %(r)s AND m.group_id = %(g)s)"
)
_SETTLE = (
    "UPDATE ntf_groups g SET accounts_count = g.accounts_count - %(gone)s, "
    "sort_key = l.position, latest_at = l.at FROM (SELECT position, at FROM ntf_members "
    "WHERE recipient_id = %(r)s AND group_id = %(g)s ORDER BY position DESC LIMIT 1) AS l "
    "WHERE g.recipient_id = %(r)s AND g.id = %(g)s"
)
_DELETE_MEMBERS_OF = (
    "DELETE FROM ntf_members m USING unnest(%s::bigint[], %s::bigint[]) AS d(r, g) "
    "WHERE m.recipient_id = d.r AND m.group_id = d.g"
)
_MARK_READ = (
    "UPDATE ntf_groups SET read = true WHERE recipient_id = %(r)s AND NOT read AND ("
    "sort_key <= COALESCE((SELECT sort_key FROM ntf_groups WHERE recipient_id = %(r)s "
    "AND id = %(u)s), %(u)s) OR id = ANY(%(ids)s::bigint[]))"
)
_TRIM = (
    "DELETE FROM ntf_groups WHERE recipient_id = %(r)s AND id IN (SELECT id FROM ntf_groups "
    "WHERE recipient_id = %(r)s ORDER BY sort_key DESC OFFSET %(keep)s) RETURNING recipient_id, id"
)
# The listed members of some groups: the newest MAX_LISTED that are not hidden.
_LISTED = (
    "SELECT g.r, g.id, l.account_id "
    "FROM unnest(%(rs)s::bigint[], %(ids)s::bigint[]) AS g(r, id) "
    "CROSS JOIN LATERAL (SELECT account_id, position FROM ntf_members m "
    "WHERE m.recipient_id = g.r AND m.group_id = g.id "
    "AND m.account_id <> ALL(%(hidden)s::bigint[]) "
    "ORDER BY m.position DESC LIMIT %(listed)s) AS l ORDER BY g.r, g.id, l.position DESC"
)
_HIDDEN_MEMBERS = (
    "SELECT group_id, count(*) FROM ntf_members WHERE recipient_id = %(r)s "
    "AND group_id = ANY(%(ids)s::bigint[]) AND account_id = ANY(%(hidden)s::bigint[]) "
    "GROUP BY group_id"
)
_PAGE = (
    f"SELECT {GROUP_COLUMNS} FROM ntf_groups g WHERE g.recipient_id = %(r)s "  # noqa: S608
    "AND g.sort_key < %(before)s AND g.kind = ANY(%(kinds)s::text[]) "
    "AND (cardinality(%(hidden)s::bigint[]) = 0 OR EXISTS (SELECT 1 FROM ntf_members m "
    "WHERE m.recipient_id = %(r)s AND m.group_id = g.id "
    "AND m.account_id <> ALL(%(hidden)s::bigint[]))) ORDER BY g.sort_key DESC LIMIT %(limit)s"
)
_ONE = f"SELECT {GROUP_COLUMNS} FROM ntf_groups g WHERE g.recipient_id = %s AND g.id = %s"  # noqa: S608
_COUNTS = (
    "SELECT recipient_id, kind, count(*) FILTER (WHERE NOT read), count(*) FROM ntf_groups "
    "WHERE recipient_id = ANY(%s) GROUP BY recipient_id, kind"
)
_NEWEST = (
    f"SELECT g.recipient_id, {GROUP_COLUMNS} FROM unnest(%s::bigint[]) AS r(id) "  # noqa: S608
    "CROSS JOIN LATERAL (SELECT * FROM ntf_groups g WHERE g.recipient_id = r.id "
    "ORDER BY g.sort_key DESC LIMIT %s) AS g"
)
_MAX_ID = 2**63 - 1


def _blob(row: Sequence[Any], listed: Sequence[int], hidden_count: int = 0) -> list[Any]:
    """A group as the hot hash and ``StoredGroup`` carry it, from a ``GROUP_COLUMNS`` row."""
    group_id, kind, post_id, count, latest_at, sort_key, read = row
    return [int(group_id), kind, post_id, list(listed), int(count) - hidden_count,
            rfc3339(latest_at), int(sort_key), bool(read)]


def _stored(blob: Sequence[Any]) -> StoredGroup:
    group_id, kind, post_id, listed, count, latest_at, sort_key, read = blob
    return StoredGroup(group_id=group_id, kind=kind, post_id=post_id,
                       account_ids=tuple(listed), accounts_count=count, latest_at=latest_at,
                       sort_key=sort_key, read=read)


async def _listed(conn: Conn, pairs: Sequence[tuple[int, int]], hidden: Collection[int]
                  ) -> dict[tuple[int, int], list[int]]:
    """(recipient, group) -> its listed accounts, most recent first."""
    if not pairs:
        return {}
    cur = await conn.execute(_LISTED, {"rs": [p[0] for p in pairs], "ids": [p[1] for p in pairs],
                                       "hidden": sorted(hidden), "listed": MAX_LISTED})
    listed: dict[tuple[int, int], list[int]] = {p: [] for p in pairs}
    for recipient, group_id, account_id in await cur.fetchall():
        listed[(int(recipient), int(group_id))].append(int(account_id))
    return listed


class PostgresNotificationWrites:
    """One batch's transaction (``ports.notifications.NotificationWrites``). Notes the
    recipients it changes, whose hot hashes are rewritten before the commit."""

    def __init__(self, conn: Conn, name: str) -> None:
        self.conn = conn
        self.name = name
        self.touched: set[int] = set()
        self._preferences: dict[int, dict[str, str]] = {}

    async def position(self) -> int:
        return await lock_position_row(self.conn, self.name)

    async def set_position(self, position: int) -> None:
        await self.conn.execute(
            "UPDATE projection_positions SET position = %s, updated_at = now() WHERE name = %s",
            (position, self.name))

    async def remember_account(self, account_id: int, username: str) -> None:
        await self.conn.execute(
            "INSERT INTO ntf_accounts (id, username_lower) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (account_id, username.lower()))

    async def account_ids(self, usernames: Collection[str]) -> dict[str, int]:
        cur = await self.conn.execute(
            "SELECT username_lower, id FROM ntf_accounts WHERE username_lower = ANY(%s)",
            (sorted({n.lower() for n in usernames}),))
        return {str(name): int(account_id) for name, account_id in await cur.fetchall()}

    async def remember_post(self, post_id: int, author_id: int) -> None:
        await self.conn.execute(
            "INSERT INTO ntf_posts (id, author_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (post_id, author_id))

    async def post_author(self, post_id: int) -> int | None:
        cur = await self.conn.execute(
            "SELECT author_id FROM ntf_posts WHERE id = %s AND NOT deleted", (post_id,))
        row = await cur.fetchone()
        return None if row is None else int(row[0])

    async def forget_post(self, post_id: int, author_id: int) -> None:
        await self.conn.execute(
            "INSERT INTO ntf_posts (id, author_id, deleted) VALUES (%s, %s, true) "
            "ON CONFLICT (id) DO UPDATE SET deleted = true", (post_id, author_id))

    async def set_edge(self, kind: EdgeKind, a: int, b: int, active: bool, version: int
                       ) -> None:
        await self.conn.execute(
            "INSERT INTO ntf_edges (kind, a, b, active, version) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (kind, a, b) DO UPDATE SET active = EXCLUDED.active, "
            "version = EXCLUDED.version WHERE ntf_edges.version < EXCLUDED.version",
            (kind, a, b, active, version))

    async def relation(self, recipient: int, actor: int) -> Relation:
        cur = await self.conn.execute(RELATION_QUERY, {"r": recipient, "x": actor})
        edges = {(str(kind), bool(mine)) for kind, mine in await cur.fetchall()}
        return Relation(blocked=any(kind == "block" for kind, _ in edges),
                        muted=("mute", True) in edges, following=("follow", True) in edges)

    async def preferences(self, account_id: int) -> dict[str, str]:
        if account_id not in self._preferences:
            cur = await self.conn.execute(
                "SELECT preferences FROM ntf_preferences WHERE account_id = %s", (account_id,))
            row = await cur.fetchone()
            self._preferences[account_id] = {**DEFAULT_PREFERENCES, **(row[0] if row else {})}
        return dict(self._preferences[account_id])

    async def set_preferences(self, account_id: int, preferences: dict[str, str],
                              version: int) -> None:
        await self.conn.execute(
            "INSERT INTO ntf_preferences (account_id, preferences, version) VALUES (%s, %s, %s) "
            "ON CONFLICT (account_id) DO UPDATE SET preferences = EXCLUDED.preferences, "
            "version = EXCLUDED.version WHERE ntf_preferences.version < EXCLUDED.version",
            (account_id, Jsonb(preferences), version))
        self._preferences.pop(account_id, None)
        self.touched.add(account_id)

    async def open_group(self, recipient: int, kind: str, target: int) -> OpenGroup | None:
        cur = await self.conn.execute(_OPEN_GROUP, (recipient, kind, target))
        row = await cur.fetchone()
        if row is None:
            return None
        group_id, first_at = row
        return OpenGroup(int(group_id), first_at)

    async def create_group(self, recipient: int, group_id: int, kind: str, target: int,
                           post_id: int | None, account_id: int, at: datetime,
                           position: int) -> bool:
        cur = await self.conn.execute(_CREATE_GROUP, {
            "r": recipient, "g": group_id, "kind": kind, "target": target, "post": post_id,
            "account": account_id, "at": at, "position": position})
        created = await cur.fetchone() is not None
        if created:
            self.touched.add(recipient)
        return created

    async def add_member(self, recipient: int, group_id: int, kind: str, target: int,
                         account_id: int, at: datetime, position: int) -> bool:
        cur = await self.conn.execute(_ADD_MEMBER, {
            "r": recipient, "g": group_id, "kind": kind, "target": target,
            "account": account_id, "at": at, "position": position})
        added = await cur.fetchone() is not None
        if added:
            self.touched.add(recipient)
        return added

    async def remove_member(self, recipient: int, kind: str, target: int, account_id: int
                            ) -> None:
        cur = await self.conn.execute(
            "DELETE FROM ntf_members WHERE recipient_id = %s AND kind = %s AND target_id = %s "
            "AND account_id = %s RETURNING group_id", (recipient, kind, target, account_id))
        await self._settle(recipient, [int(row[0]) for row in await cur.fetchall()])

    async def remove_account(self, recipient: int, account_id: int) -> None:
        cur = await self.conn.execute(
            "DELETE FROM ntf_members WHERE recipient_id = %s AND account_id = %s "
            "RETURNING group_id", (recipient, account_id))
        await self._settle(recipient, [int(row[0]) for row in await cur.fetchall()])

    async def _settle(self, recipient: int, groups_left: list[int]) -> None:
        """Each group in ``groups_left`` lost one member: drop it or recount it."""
        for group_id in groups_left:
            params = {"r": recipient, "g": group_id, "gone": 1}
            dropped = await self.conn.execute(_DROP_IF_EMPTY, params)
            if not dropped.rowcount:
                await self.conn.execute(_SETTLE, params)
            self.touched.add(recipient)

    async def remove_post(self, post_id: int) -> None:
        cur = await self.conn.execute(
            "DELETE FROM ntf_groups WHERE post_id = %s RETURNING recipient_id, id", (post_id,))
        await self._delete_members([(int(r), int(g)) for r, g in await cur.fetchall()])

    async def erase_account(self, account_id: int) -> None:
        cur = await self.conn.execute(
            "UPDATE ntf_posts SET deleted = true WHERE author_id = %s AND NOT deleted "
            "RETURNING id", (account_id,))
        for (post_id,) in await cur.fetchall():
            await self.remove_post(int(post_id))
        cur = await self.conn.execute(
            "DELETE FROM ntf_members WHERE account_id = %s RETURNING recipient_id, group_id",
            (account_id,))
        left: dict[int, list[int]] = {}
        for recipient, group_id in await cur.fetchall():
            left.setdefault(int(recipient), []).append(int(group_id))
        for recipient, groups in left.items():
            await self._settle(recipient, groups)
        cur = await self.conn.execute(
            "DELETE FROM ntf_groups WHERE recipient_id = %s RETURNING recipient_id, id",
            (account_id,))
        await self._delete_members([(int(r), int(g)) for r, g in await cur.fetchall()])
        await self.conn.execute("DELETE FROM ntf_accounts WHERE id = %s", (account_id,))
        await self.conn.execute("DELETE FROM ntf_edges WHERE a = %s OR b = %s",
                                (account_id, account_id))
        await self.conn.execute("DELETE FROM ntf_preferences WHERE account_id = %s",
                                (account_id,))
        self._preferences.pop(account_id, None)

    async def _delete_members(self, groups: list[tuple[int, int]]) -> None:
        if groups:
            await self.conn.execute(_DELETE_MEMBERS_OF, ([r for r, _ in groups],
                                                         [g for _, g in groups]))
            self.touched.update(r for r, _ in groups)

    async def mark_read(self, recipient: int, up_to_id: int | None, ids: Sequence[int]
                        ) -> None:
        await self.conn.execute(_MARK_READ, {"r": recipient, "u": up_to_id,
                                             "ids": [i for i in ids if 0 < i <= _MAX_ID]})
        self.touched.add(recipient)

    async def trim(self, recipient: int, keep: int) -> None:
        cur = await self.conn.execute(_TRIM, {"r": recipient, "keep": keep})
        await self._delete_members([(int(r), int(g)) for r, g in await cur.fetchall()])


class PostgresNotificationStore:
    """``ports.notifications.NotificationStore`` over a psycopg pool and Redis.

    ``hot_groups``: how many of each recipient's newest groups its hot hash holds
    (a first page up to that size, or any first page of a recipient with no
    more groups, is answered from Redis). ``cache_ttl_s``: how long a hot hash
    lives without a write.

    Without ``copy`` it writes the live copy: each transaction first reads the
    projection's ``projection_copies`` row ``FOR KEY SHARE`` (a switch locks it ``FOR
    UPDATE``) and sets its ``search_path`` to that copy's schema; the position is the
    ``projection_positions`` row ``name``. With ``copy`` (``v2``, ``scratch``) it
    writes that copy, a rebuild's, and its position is the row ``name@copy``.
    """

    def __init__(self, pool: AsyncConnectionPool[Conn], redis: Redis, prefix: str, *,
                 hot_groups: int = 20, cache_ttl_s: int = 7 * 86400,
                 name: str = NOTIFICATIONS, copy: str | None = None) -> None:
        self.pool = pool
        self.redis = redis
        self.prefix = prefix
        self.hot_groups = hot_groups
        self.cache_ttl_s = cache_ttl_s
        self.name = name
        self.copy = copy
        self.position_name = name if copy is None else f"{name}@{copy}"
        self.pointer = LivePointer(redis, RedisKeys(prefix), NOTIFICATIONS)

    def hot_prefix(self, label: str) -> str:
        """The prefix of copy ``label``'s hot hashes (``hot_key``)."""
        return self.pointer.keys(label).prefix

    async def _enter_copy(self, conn: Conn) -> str:
        """Set ``conn``'s transaction to this store's copy; its label."""
        return await NOTIFICATION_COPIES.enter(conn, NOTIFICATIONS, self.copy)

    # -- the projector's side ------------------------------------------------

    @asynccontextmanager
    async def writes(self) -> AsyncIterator[PostgresNotificationWrites]:
        async with self.pool.connection() as conn, conn.transaction():
            label = await self._enter_copy(conn)
            tx = PostgresNotificationWrites(conn, self.position_name)
            yield tx
            if tx.touched:
                await self._write_hot(conn, sorted(tx.touched), label)

    async def _write_hot(self, conn: Conn, recipients: list[int], label: str) -> None:
        """Rewrite the hot hash of each recipient from this transaction's view, in copy
        ``label``'s namespace.

        Raises:
            DependencyUnavailable: Redis failed; the transaction rolls back and is retried.
        """
        hashes: dict[int, dict[str, Any]] = {r: {"unread": {}, "total": 0, "newest": [],
                                                 "prefs": dict(DEFAULT_PREFERENCES)}
                                             for r in recipients}
        cur = await conn.execute(_COUNTS, (recipients,))
        for recipient, kind, unread, total in await cur.fetchall():
            hashes[int(recipient)]["unread"][kind] = int(unread)
            hashes[int(recipient)]["total"] += int(total)
        cur = await conn.execute(
            "SELECT account_id, preferences FROM ntf_preferences WHERE account_id = ANY(%s)",
            (recipients,))
        for account_id, preferences in await cur.fetchall():
            hashes[int(account_id)]["prefs"].update(preferences)
        cur = await conn.execute(_NEWEST, (recipients, self.hot_groups))
        rows = await cur.fetchall()
        newest = [(int(recipient), group) for recipient, *group in rows]
        listed = await _listed(conn, [(recipient, int(group[0]))
                                      for recipient, group in newest], ())
        for recipient, group in newest:
            hashes[recipient]["newest"].append(_blob(group, listed[(recipient,
                                                                    int(group[0]))]))
        prefix = self.hot_prefix(label)
        try:
            # One transaction per hash slot of the recipients' hashes (one in all on a
            # single Redis; a Redis Cluster runs a transaction in one slot only).
            await asyncio.gather(*(
                self._set_hashes(prefix, {r: hashes[r] for r in group})
                for group in by_slot(hashes, lambda r: hot_key(prefix, r),
                                     is_cluster(self.redis))))
        except RedisError as error:
            raise DependencyUnavailable(f"notifications hot hash: {error!r}") from error

    async def _set_hashes(self, prefix: str, hashes: dict[int, dict[str, Any]]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for recipient, fields in hashes.items():
                key = hot_key(prefix, recipient)
                pipe.hset(key, mapping={  # sorted keys: the same state, the same bytes
                    name: orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
                    for name, value in fields.items()})
                pipe.expire(key, self.cache_ttl_s)
            await pipe.execute()

    async def position(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT position FROM projection_positions WHERE name = %s",
                (self.position_name,))
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def advance(self, position: int) -> None:
        async with self.writes() as tx:
            if await tx.position() < position:
                await tx.set_position(position)

    async def reset(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            label = await self._enter_copy(conn)
            await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
            await conn.execute("DELETE FROM projection_positions WHERE name = %s",
                               (self.position_name,))
        await unlink_matching(self.redis, f"{self.hot_prefix(label)}notif:*")

    async def after_rebuild(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await NOTIFICATION_COPIES.analyze(conn, await self._enter_copy(conn))

    # -- the readers' side ---------------------------------------------------

    async def _hot(self, recipient: int, *fields: str) -> list[Any] | None:
        """The fields of the recipient's hot hash in the live copy (the pointer read in
        the same pipeline), or ``None`` without one."""
        _, [values] = await self.pointer.checked(lambda pipe, label: pipe.hmget(
            hot_key(self.hot_prefix(label), recipient), list(fields)))
        if any(value is None for value in values):
            return None
        return [orjson.loads(value) for value in values if value is not None]

    async def summary(self, recipient: int) -> Summary:
        hot = await self._hot(recipient, "prefs", "unread")
        if hot is not None:
            return Summary({**DEFAULT_PREFERENCES, **hot[0]}, hot[1])
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT preferences FROM ntf_preferences WHERE account_id = %s", (recipient,))
            row = await cur.fetchone()
            counts = await conn.execute(
                "SELECT kind, count(*) FROM ntf_groups WHERE recipient_id = %s AND NOT read "
                "GROUP BY kind", (recipient,))
            unread = {str(kind): int(n) for kind, n in await counts.fetchall()}
        return Summary({**DEFAULT_PREFERENCES, **(row[0] if row else {})}, unread)

    async def groups(self, recipient: int, *, before: int | None, limit: int,
                     kinds: Collection[str], hidden: Collection[int]) -> list[StoredGroup]:
        if before is None:
            hot = await self._from_hot(recipient, limit, kinds, hidden)
            if hot is not None:
                return hot
        async with self.pool.connection() as conn:
            cur = await conn.execute(_PAGE, {
                "r": recipient, "before": _MAX_ID if before is None else before,
                "kinds": sorted(kinds), "hidden": sorted(hidden), "limit": limit})
            rows = await cur.fetchall()
            return await self._shown(conn, recipient, rows, hidden)

    async def group(self, recipient: int, group_id: int, hidden: Collection[int]
                    ) -> StoredGroup | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_ONE, (recipient, group_id))
            shown = await self._shown(conn, recipient, await cur.fetchall(), hidden)
        return shown[0] if shown else None

    async def _shown(self, conn: Conn, recipient: int, rows: Sequence[Sequence[Any]],
                     hidden: Collection[int]) -> list[StoredGroup]:
        """Groups from ``GROUP_COLUMNS`` rows: their listed accounts, counts without the
        hidden accounts, and without a group that has no other member."""
        ids = [int(row[0]) for row in rows]
        listed = await _listed(conn, [(recipient, i) for i in ids], hidden)
        hidden_counts = await self._hidden_counts(conn, recipient, ids, hidden)
        shown = [_stored(_blob(row, listed[(recipient, int(row[0]))],
                               hidden_counts.get(int(row[0]), 0))) for row in rows]
        return [group for group in shown if group.accounts_count > 0]

    async def _hidden_counts(self, conn: Conn, recipient: int, ids: list[int],
                             hidden: Collection[int]) -> dict[int, int]:
        """Group -> how many of its members are hidden."""
        if not hidden or not ids:
            return {}
        cur = await conn.execute(_HIDDEN_MEMBERS, {"r": recipient, "ids": ids,
                                                   "hidden": sorted(hidden)})
        return {int(group_id): int(n) for group_id, n in await cur.fetchall()}

    async def _from_hot(self, recipient: int, limit: int, kinds: Collection[str],
                        hidden: Collection[int]) -> list[StoredGroup] | None:
        """A first page from the hot hash, or ``None`` when it cannot answer exactly: no
        hash, too few groups in it, or a hidden account among the groups' members."""
        hot = await self._hot(recipient, "newest", "total")
        if hot is None:
            return None
        newest, total = hot
        candidates = [_stored(blob) for blob in newest if blob[1] in kinds]
        if len(candidates) < limit and total > len(newest):
            return None
        page = candidates[:limit]
        if hidden and page:
            async with self.pool.connection() as conn:
                if await self._hidden_counts(conn, recipient, [g.group_id for g in page],
                                             hidden):
                    return None
        return page
