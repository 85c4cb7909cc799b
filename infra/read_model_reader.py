"""The read models in PostgreSQL (the ``rm_*`` tables), as the queries read them.

``PostgresReadModelReader`` is the adapter of ``ports.read_model_reader.ReadModelReader``:
every SQL statement the query side runs is here. Each method takes one
connection of the pool for one statement (``page_rows``: three statements in
one pipeline, ``thread_ids``: two in a row on one connection); rows are read by
name (``dict_row``) and handed back as the port's row types, as the driver
made them. The tables are written by ``projections.read_models`` (schema in
``infra/schema.sql``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from psycopg import AsyncConnection
from psycopg.rows import TupleRow, dict_row

from infra.database import AsyncPool
from infra.serialization import rfc3339
from ports.page_facts import BLOCKED, MUTED, FactKeys, Facts, RepostFact, ShownAccount
from ports.read_model_reader import (
    AccountRow,
    Edge,
    FollowDirection,
    FollowRow,
    HiddenAccounts,
    MediaRow,
    PageRows,
    PostRow,
    RepostRow,
    ThreadIds,
)
from ports.timelines import TimelineItem

# The columns of rm_accounts that make an ``AccountRow`` (``a`` is rm_accounts).
ACCOUNT_COLUMNS = (
    "a.id, a.username, a.display_name, a.bio, a.avatar_url, a.created_at, "
    "a.followers_count, a.following_count, a.posts_count, a.email, "
    "(a.suspended_at IS NOT NULL) AS suspended"
)
# Suspended accounts are left out of what others are shown of accounts and posts:
# every statement below that lists accounts, authors, reposters or tagged posts says
# ``a.suspended_at IS NULL`` (the profile lookups answer ``suspended`` instead).

_ID_BY_USERNAME = "SELECT id FROM rm_accounts WHERE username_lower = %s"
_BY_USERNAME = f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.username_lower = %s"  # noqa: S608
_BY_ID = f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a WHERE a.id = %s"  # noqa: S608

_FOLLOWERS = (
    f"SELECT {ACCOUNT_COLUMNS}, f.position FROM rm_follows f "  # noqa: S608
    "JOIN rm_accounts a ON a.id = f.follower_id "
    "WHERE f.followee_id = %s AND f.active AND f.position < %s "
    "AND a.id <> ALL(%s) AND a.suspended_at IS NULL ORDER BY f.position DESC LIMIT %s"
)
_FOLLOWING = (
    f"SELECT {ACCOUNT_COLUMNS}, f.position FROM rm_follows f "  # noqa: S608
    "JOIN rm_accounts a ON a.id = f.followee_id "
    "WHERE f.follower_id = %s AND f.active AND f.position < %s "
    "AND a.id <> ALL(%s) AND a.suspended_at IS NULL ORDER BY f.position DESC LIMIT %s"
)

_EDGES = (
    "SELECT 'follow' AS kind, follower_id AS from_id, followee_id AS to_id "
    "FROM rm_follows WHERE active AND "
    "((follower_id = %(r)s AND followee_id = %(o)s) OR (follower_id = %(o)s AND "
    "followee_id = %(r)s)) "
    "UNION ALL SELECT 'block', blocker_id, blocked_id FROM rm_blocks WHERE active AND "
    "((blocker_id = %(r)s AND blocked_id = %(o)s) OR (blocker_id = %(o)s AND "
    "blocked_id = %(r)s)) "
    "UNION ALL SELECT 'mute', muter_id, muted_id FROM rm_mutes WHERE active AND "
    "muter_id = %(r)s AND muted_id = %(o)s"
)

_HIDDEN = (
    "SELECT blocked_id AS account_id, 'b' AS kind FROM rm_blocks "
    "WHERE blocker_id = %(r)s AND active "
    "UNION ALL SELECT blocker_id, 'b' FROM rm_blocks WHERE blocked_id = %(r)s AND active "
    "UNION ALL SELECT muted_id, 'm' FROM rm_mutes WHERE muter_id = %(r)s AND active"
)

_POSTS = (
    "SELECT id, author_id, text, created_at, reply_to_id, quote_of_id, mentions, hashtags, "
    "likes_count, replies_count, reposts_count, (deleted_at IS NOT NULL)::int AS deleted, "
    "media_ids FROM rm_posts WHERE id = ANY(%s)"
)
_MEDIA = (
    "SELECT m.id, m.owner_id, m.description, m.blurhash, m.original, m.small, m.post_id, "
    "(p.deleted_at IS NOT NULL) AS post_deleted, m.created_at, "
    "(o.suspended_at IS NOT NULL) AS owner_suspended "
    "FROM rm_media m LEFT JOIN rm_posts p ON p.id = m.post_id "
    "LEFT JOIN rm_accounts o ON o.id = m.owner_id WHERE m.id = ANY(%s)"
)
# A medium attached to a post the read models lack (its creation parked) is kept.
# The two key conditions use rm_media_original_key_idx / rm_media_small_key_idx.
_LIVE_MEDIA_KEYS = (
    "SELECT DISTINCT k.key FROM rm_media m LEFT JOIN rm_posts p ON p.id = m.post_id, "
    "LATERAL (VALUES (m.original->>'key'), (m.small->>'key')) AS k(key) "
    "WHERE (m.original->>'key' = ANY(%(keys)s) OR m.small->>'key' = ANY(%(keys)s)) "
    "AND k.key = ANY(%(keys)s) "
    "AND ((m.post_id IS NULL AND m.created_at >= %(since)s) "
    "OR (m.post_id IS NOT NULL AND p.deleted_at IS NULL))"
)

_AUTHORS = (
    f"SELECT {ACCOUNT_COLUMNS} FROM rm_accounts a "  # noqa: S608
    "WHERE a.id = ANY(%s) AND a.suspended_at IS NULL"
)
_REPOSTS = (
    f"SELECT r.repost_id, r.since, {ACCOUNT_COLUMNS} FROM rm_reposts r "  # noqa: S608
    "JOIN rm_accounts a ON a.id = r.account_id WHERE r.repost_id = ANY(%s) AND r.active "
    "AND a.suspended_at IS NULL"
)
# Small per-page facts in one query, each row tagged with what it says.
_FACTS = (
    "SELECT 'parent' AS tag, p.id FROM rm_posts p JOIN rm_accounts a ON a.id = p.author_id "
    " WHERE p.id = ANY(%(parents)s) AND p.deleted_at IS NULL AND a.suspended_at IS NULL "
    "UNION ALL SELECT 'liked', post_id FROM rm_likes "
    " WHERE account_id = %(r)s AND post_id = ANY(%(posts)s) AND active "
    "UNION ALL SELECT 'reposted', post_id FROM rm_reposts "
    " WHERE account_id = %(r)s AND post_id = ANY(%(posts)s) AND active "
    "UNION ALL SELECT 'blocked', blocked_id FROM rm_blocks WHERE blocker_id = %(r)s AND active "
    "UNION ALL SELECT 'blocked', blocker_id FROM rm_blocks WHERE blocked_id = %(r)s AND active "
    "UNION ALL SELECT 'muted', muted_id FROM rm_mutes WHERE muter_id = %(r)s AND active"
)
NO_READER = 0
"""The reader id ``_FACTS`` is given for a page without a reader: no account has it."""

# The facts of ``ports.page_facts`` for given keys, read by the API on a cache miss and by
# the read-model projector inside its transaction (``read_facts``): the same statements.
_FACT_ACCOUNTS = (
    "SELECT a.id, a.username, a.display_name, a.bio, a.avatar_url, a.created_at, "
    "a.followers_count, a.following_count, a.posts_count, a.suspended_at IS NOT NULL "
    "FROM rm_accounts a WHERE a.id = ANY(%s) OR a.aggregate_id = ANY(%s::uuid[])"
)
_FACT_REPOSTS = (
    "SELECT repost_id, account_id, since FROM rm_reposts WHERE repost_id = ANY(%s) AND active"
)
_FACT_EDGES = (  # the pairs asked for that are active, each row tagged with its kind
    "SELECT 'l' AS tag, l.account_id, l.post_id FROM rm_likes l "
    " JOIN unnest(%(lr)s::bigint[], %(lp)s::bigint[]) AS k(r, o) "
    " ON l.account_id = k.r AND l.post_id = k.o WHERE l.active "
    "UNION ALL SELECT 'r', r.account_id, r.post_id FROM rm_reposts r "
    " JOIN unnest(%(rr)s::bigint[], %(rp)s::bigint[]) AS k(r, o) "
    " ON r.account_id = k.r AND r.post_id = k.o WHERE r.active "
    "UNION ALL SELECT 'b', k.r, k.o FROM unnest(%(hr)s::bigint[], %(ho)s::bigint[]) AS k(r, o) "
    " WHERE EXISTS (SELECT 1 FROM rm_blocks b WHERE b.active AND ((b.blocker_id = k.r "
    " AND b.blocked_id = k.o) OR (b.blocker_id = k.o AND b.blocked_id = k.r))) "
    "UNION ALL SELECT 'm', m.muter_id, m.muted_id FROM rm_mutes m "
    " JOIN unnest(%(hr)s::bigint[], %(ho)s::bigint[]) AS k(r, o) "
    " ON m.muter_id = k.r AND m.muted_id = k.o WHERE m.active"
)


async def read_facts(conn: AsyncConnection[TupleRow], keys: FactKeys) -> Facts:
    """The facts (``ports.page_facts``) of ``keys`` as ``conn`` sees the read models, in
    one pipeline: every key asked has its value (an absent row is ``None`` or false),
    and the accounts of ``account_aggregates`` that exist theirs, by id."""
    facts = Facts(accounts=dict.fromkeys(keys.accounts), reposts=dict.fromkeys(keys.reposts),
                  liked=dict.fromkeys(keys.liked, False),
                  reposted=dict.fromkeys(keys.reposted, False),
                  hidden=dict.fromkeys(keys.hidden, 0))
    liked, reposted, hidden = list(keys.liked), list(keys.reposted), list(keys.hidden)
    async with conn.pipeline():
        accounts = await conn.execute(_FACT_ACCOUNTS, (
            list(keys.accounts), list(keys.account_aggregates))) \
            if keys.accounts or keys.account_aggregates else None
        reposts = await conn.execute(_FACT_REPOSTS, (list(keys.reposts),)) \
            if keys.reposts else None
        edges = await conn.execute(_FACT_EDGES, {
            "lr": [p[0] for p in liked], "lp": [p[1] for p in liked],
            "rr": [p[0] for p in reposted], "rp": [p[1] for p in reposted],
            "hr": [p[0] for p in hidden], "ho": [p[1] for p in hidden]}) \
            if liked or reposted or hidden else None
        for row in await accounts.fetchall() if accounts else ():
            facts.accounts[int(row[0])] = None if row[9] else ShownAccount(
                id=int(row[0]), username=row[1], display_name=row[2], bio=row[3],
                avatar_url=row[4], created_at=rfc3339(row[5]), followers_count=row[6],
                following_count=row[7], posts_count=row[8])
        for repost_id, account_id, since in await reposts.fetchall() if reposts else ():
            facts.reposts[int(repost_id)] = RepostFact(int(account_id), rfc3339(since))
        for tag, reader, other in await edges.fetchall() if edges else ():
            pair = (int(reader), int(other))
            if tag == "l":
                facts.liked[pair] = True
            elif tag == "r":
                facts.reposted[pair] = True
            else:
                facts.hidden[pair] |= BLOCKED if tag == "b" else MUTED
    return facts


_ACCOUNT_POSTS = (
    "SELECT id FROM rm_posts WHERE author_id = %s AND deleted_at IS NULL AND id < %s "
    "ORDER BY id DESC LIMIT %s"
)

# rm_post_tags holds a row per tag of each live post (projections.read_models).
# Suspended authors' rows stay (a suspension is lifted in one statement); each row
# read is checked against its author's (a primary-key probe).
_TAGGED = (
    "SELECT t.post_id FROM rm_post_tags t WHERE t.tag = %s AND t.post_id < %s "
    "AND t.author_id <> ALL(%s) AND NOT EXISTS (SELECT 1 FROM rm_accounts a "
    "WHERE a.id = t.author_id AND a.suspended_at IS NOT NULL) "
    "ORDER BY t.post_id DESC LIMIT %s"
)

_ANCESTORS = (
    "WITH RECURSIVE up(id, reply_to_id, depth) AS ("
    " SELECT id, reply_to_id, 0 FROM rm_posts WHERE id = %(id)s"
    " UNION ALL SELECT p.id, p.reply_to_id, up.depth + 1 FROM rm_posts p"
    " JOIN up ON p.id = up.reply_to_id WHERE up.depth < %(max)s)"
    " SELECT id FROM up WHERE depth > 0 ORDER BY depth DESC"
)
_DESCENDANTS = (
    "WITH RECURSIVE down(id, path) AS ("
    " SELECT id, ARRAY[id] FROM rm_posts WHERE reply_to_id = %(id)s"
    " UNION ALL SELECT p.id, down.path || p.id FROM rm_posts p"
    " JOIN down ON p.reply_to_id = down.id WHERE cardinality(down.path) < %(max)s)"
    " SELECT id FROM down ORDER BY path LIMIT %(max)s"
)

_REBUILD = (
    "WITH authors AS ("
    " SELECT followee_id AS id FROM rm_follows WHERE follower_id = %(r)s AND active"
    " AND followee_id <> ALL(%(celebs)s) UNION SELECT %(r)s) "
    "(SELECT p.id, NULL::bigint FROM rm_posts p JOIN authors a ON p.author_id = a.id"
    " WHERE p.deleted_at IS NULL ORDER BY p.id DESC LIMIT %(n)s) "
    "UNION ALL "
    "(SELECT r.repost_id, r.post_id FROM rm_reposts r JOIN authors a ON r.account_id = a.id"
    " JOIN rm_posts p ON p.id = r.post_id AND p.deleted_at IS NULL"
    " WHERE r.active ORDER BY r.repost_id DESC LIMIT %(n)s)"
)


class PostgresReadModelReader:
    """``ReadModelReader`` over the read models' pool (autocommit connections)."""

    def __init__(self, pool: AsyncPool) -> None:
        self.pool = pool

    async def _one(self, query: str, params: Sequence[Any]) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.cursor(row_factory=dict_row).execute(query, params)
            return await cur.fetchone()

    async def _all(self, query: str, params: Sequence[Any] | dict[str, Any]
                   ) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.cursor(row_factory=dict_row).execute(query, params)
            return await cur.fetchall()

    async def account_id(self, username: str) -> int | None:
        row = await self._one(_ID_BY_USERNAME, (username.lower(),))
        return None if row is None else int(row["id"])

    async def account_by_username(self, username: str) -> AccountRow | None:
        return cast(AccountRow | None, await self._one(_BY_USERNAME, (username.lower(),)))

    async def account_by_id(self, account_id: int) -> AccountRow | None:
        return cast(AccountRow | None, await self._one(_BY_ID, (account_id,)))

    async def accounts_by_id(self, account_ids: Collection[int]) -> list[AccountRow]:
        return cast(list[AccountRow], await self._all(_AUTHORS, (list(account_ids),)))

    async def follow_page(self, account_id: int, direction: FollowDirection, before: int,
                          excluding: Collection[int], limit: int) -> list[FollowRow]:
        query = _FOLLOWERS if direction == "followers" else _FOLLOWING
        rows = await self._all(query, (account_id, before, list(excluding), limit))
        return cast(list[FollowRow], rows)

    async def edges_between(self, reader_id: int, other_id: int) -> list[Edge]:
        rows = await self._all(_EDGES, {"r": reader_id, "o": other_id})
        return [Edge(row["kind"], int(row["from_id"]), int(row["to_id"])) for row in rows]

    async def hidden_accounts(self, reader_id: int) -> HiddenAccounts:
        rows = await self._all(_HIDDEN, {"r": reader_id})
        return HiddenAccounts(frozenset(int(r["account_id"]) for r in rows if r["kind"] == "b"),
                              frozenset(int(r["account_id"]) for r in rows if r["kind"] == "m"))

    async def media(self, media_ids: Sequence[int]) -> list[MediaRow]:
        return cast(list[MediaRow], await self._all(_MEDIA, (list(media_ids),)))

    async def live_media_keys(self, keys: Sequence[str], unattached_since: datetime
                              ) -> set[str]:
        if not keys:
            return set()
        rows = await self._all(_LIVE_MEDIA_KEYS, {"keys": list(keys), "since": unattached_since})
        return {row["key"] for row in rows}

    async def posts(self, post_ids: Sequence[int]) -> list[PostRow]:
        return cast(list[PostRow], await self._all(_POSTS, (list(post_ids),)))

    async def page_rows(self, reader_id: int | None, author_ids: Collection[int],
                        repost_ids: Sequence[int], post_ids: Sequence[int],
                        parent_ids: Sequence[int]) -> PageRows:
        async with self.pool.connection() as conn, conn.pipeline():
            authors = await conn.cursor(row_factory=dict_row).execute(
                _AUTHORS, (list(author_ids),))
            reposts = await conn.cursor(row_factory=dict_row).execute(
                _REPOSTS, (list(repost_ids),)) if repost_ids else None
            small = await conn.cursor(row_factory=dict_row).execute(
                _FACTS, {"parents": list(parent_ids), "posts": list(post_ids),
                         "r": reader_id if reader_id is not None else NO_READER})
            tagged: dict[str, set[int]] = {tag: set() for tag in
                                           ("parent", "liked", "reposted", "blocked", "muted")}
            for row in await small.fetchall():
                tagged[row["tag"]].add(int(row["id"]))
            return PageRows(
                authors=cast(list[AccountRow], await authors.fetchall()),
                reposts=cast(list[RepostRow], await reposts.fetchall()) if reposts else [],
                live_parents=tagged["parent"],
                liked=tagged["liked"],
                reposted=tagged["reposted"],
                hidden=HiddenAccounts(frozenset(tagged["blocked"]), frozenset(tagged["muted"])),
            )

    async def facts(self, keys: FactKeys) -> Facts:
        async with self.pool.connection() as conn:
            return await read_facts(conn, keys)

    async def account_post_ids(self, author_id: int, before: int, limit: int) -> list[int]:
        rows = await self._all(_ACCOUNT_POSTS, (author_id, before, limit))
        return [int(row["id"]) for row in rows]

    async def tagged_post_ids(self, tag: str, before: int, excluding_authors: Collection[int],
                              limit: int) -> list[int]:
        rows = await self._all(_TAGGED, (tag, before, sorted(excluding_authors), limit))
        return [int(row["post_id"]) for row in rows]

    async def thread_ids(self, post_id: int, max_posts: int) -> ThreadIds:
        params = {"id": post_id, "max": max_posts}
        async with self.pool.connection() as conn:
            up = await conn.cursor(row_factory=dict_row).execute(_ANCESTORS, params)
            ancestors = [int(row["id"]) for row in await up.fetchall()]
            down = await conn.cursor(row_factory=dict_row).execute(_DESCENDANTS, params)
            descendants = [int(row["id"]) for row in await down.fetchall()]
        return ThreadIds(ancestors, descendants)

    async def rebuild_items(self, reader_id: int, excluded_authors: Collection[int],
                            limit: int) -> list[TimelineItem]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_REBUILD, {"r": reader_id, "celebs": list(excluded_authors),
                                                "n": limit})
            return [(int(item), original) for item, original in await cur.fetchall()]
