"""Rows of ``tests.fakes.read_model_reader.ReadModelTables`` inserted into the ``rm_*`` tables,
so that the reader's contract runs on PostgreSQL over the rows it runs the fake on."""

from __future__ import annotations

import uuid
from datetime import datetime

from psycopg.types.json import Jsonb

from infra.database import AsyncPool
from tests.fakes.read_model_reader import EPOCH, ReadModelTables, StoredEdge

_EDGE_TABLES = {  # table: (from column, to column)
    "rm_follows": ("follower_id", "followee_id"),
    "rm_likes": ("account_id", "post_id"),
    "rm_blocks": ("blocker_id", "blocked_id"),
    "rm_mutes": ("muter_id", "muted_id"),
}


def _edge(edge: StoredEdge) -> tuple[int, int, bool, int, int, datetime]:
    return (edge.from_id, edge.to_id, edge.active, 1, edge.position, EPOCH)


async def insert_tables(pool: AsyncPool, tables: ReadModelTables) -> None:
    """Insert every row of ``tables`` in one transaction (into empty read models)."""
    async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO rm_accounts (id, aggregate_id, username, username_lower, email, "
            "display_name, bio, avatar_url, created_at, version, followers_count, "
            "following_count, posts_count, suspended_at) "
            "VALUES (%s, %s, %s, %s, '', %s, %s, %s, %s, 1, %s, %s, %s, %s)",
            [(a.id, uuid.uuid4(), a.username, a.username.lower(), a.display_name, a.bio,
              a.avatar_url, a.created_at, a.followers_count, a.following_count, a.posts_count,
              a.created_at if a.suspended else None)
             for a in tables.accounts])
        await cur.executemany(
            "INSERT INTO rm_posts (id, author_id, text, reply_to_id, quote_of_id, mentions, "
            "hashtags, created_at, deleted_at, version, likes_count, replies_count, "
            "reposts_count, media_ids) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s)",
            [(p.id, p.author_id, p.text, p.reply_to_id, p.quote_of_id, p.mentions, p.hashtags,
              p.created_at, p.created_at if p.deleted else None, p.likes_count,
              p.replies_count, p.reposts_count, p.media_ids) for p in tables.posts])
        await cur.executemany(
            "INSERT INTO rm_media (id, owner_id, description, blurhash, original, small, "
            "post_id, created_at, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1)",
            [(m.id, m.owner_id, m.description, m.blurhash, Jsonb(m.original), Jsonb(m.small),
              m.post_id, m.created_at) for m in tables.media])
        edges = {"rm_follows": tables.follows, "rm_likes": tables.likes,
                 "rm_blocks": tables.blocks, "rm_mutes": tables.mutes}
        for table, (source, target) in _EDGE_TABLES.items():
            when = "followed_at" if table == "rm_follows" else "since"
            await cur.executemany(
                f"INSERT INTO {table} ({source}, {target}, active, version, position, "
                f"{when}) VALUES (%s, %s, %s, %s, %s, %s)",
                [_edge(edge) for edge in edges[table]])
        await cur.executemany(  # a row per tag of each live post, as the projector keeps
            "INSERT INTO rm_post_tags (tag, post_id, author_id) VALUES (%s, %s, %s)",
            [(tag, p.id, p.author_id) for p in tables.posts if not p.deleted
             for tag in dict.fromkeys(p.hashtags)])
        await cur.executemany(
            "INSERT INTO rm_reposts (account_id, post_id, repost_id, active, version, "
            "position, since) VALUES (%s, %s, %s, %s, 1, %s, %s)",
            [(r.account_id, r.post_id, r.repost_id, r.active, r.position, r.since)
             for r in tables.reposts])
