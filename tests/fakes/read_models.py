"""An in-memory ``ports.read_models.ReadModelStore``, with the PostgreSQL adapter's semantics.

Tables are dicts of rows; a transaction works on the live tables under one
lock (a second transaction waits, as for the locked position row) and puts
back a copy taken at its start if its block raises, so nothing of it is
kept. ``calls`` records each writer call by name, so tests can count the
round trips the PostgreSQL adapter would make. ``tests/contracts/read_models.py``
runs one suite against this fake and ``infra.read_model_store``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ports import read_models as rm
from ports.page_facts import BLOCKED, MUTED, FactKeys, Facts, RepostFact, ShownAccount
from ports.post_cache import Counts

Row = dict[str, Any]


@dataclass
class Tables:
    """The read models' rows: accounts and posts by id (their columns as in
    ``infra/schema.sql``, times as RFC 3339 text), edges by kind and key, the tag rows
    ``(tag, post_id, author_id)``, the position (``None``: no row yet)."""

    accounts: dict[int, Row] = field(default_factory=dict)
    posts: dict[int, Row] = field(default_factory=dict)
    edges: dict[rm.EdgeKind, dict[rm.EdgeKey, rm.Edge]] = field(
        default_factory=lambda: {kind: {} for kind in rm.EDGE_KINDS})
    post_tags: set[tuple[str, int, int]] = field(default_factory=set)
    media: dict[int, Row] = field(default_factory=dict)
    position: int | None = None


class FakeReadModelWriter:
    """``ReadModelWriter`` over the fake's tables."""

    def __init__(self, tables: Tables, calls: list[str]) -> None:
        self.tables = tables
        self.calls = calls

    async def locked_position(self) -> int:
        self.calls.append("locked_position")
        if self.tables.position is None:
            self.tables.position = 0
        return self.tables.position

    async def set_position(self, position: int) -> None:
        self.calls.append("set_position")
        if self.tables.position is not None:  # an UPDATE of the row, if there is one
            self.tables.position = position

    async def add_account(self, account: rm.NewAccount) -> None:
        self.calls.append("add_account")
        if account.account_id in self.tables.accounts:
            return
        lower = account.username.lower()
        if any(row["username_lower"] == lower for row in self.tables.accounts.values()):
            raise ValueError(f"username_lower {lower!r} is taken")  # the UNIQUE constraint
        self.tables.accounts[account.account_id] = {
            "id": account.account_id, "aggregate_id": account.aggregate_id,
            "username": account.username, "username_lower": lower, "email": account.email,
            "display_name": account.display_name, "bio": "", "avatar_url": "",
            "created_at": account.created_at, "version": account.version,
            "followers_count": 0, "following_count": 0, "posts_count": 0,
            "is_admin": False, "suspended_at": None}

    async def update_profile(self, change: rm.ProfileChange) -> None:
        self.calls.append("update_profile")
        for row in self.tables.accounts.values():
            if row["aggregate_id"] == change.aggregate_id and row["version"] < change.version:
                row.update(display_name=change.display_name, bio=change.bio,
                           avatar_url=change.avatar_url, version=change.version)

    async def set_admin(self, change: rm.AdminChange) -> None:
        self.calls.append("set_admin")
        for row in self.tables.accounts.values():
            if row["aggregate_id"] == change.aggregate_id and row["version"] < change.version:
                row.update(is_admin=change.is_admin, version=change.version)

    async def set_suspension(self, change: rm.SuspensionChange) -> None:
        self.calls.append("set_suspension")
        for row in self.tables.accounts.values():
            if row["aggregate_id"] == change.aggregate_id and row["version"] < change.version:
                row.update(suspended_at=change.suspended_at, version=change.version)

    async def add_post(self, post: rm.NewPost) -> bool:
        self.calls.append("add_post")
        if post.post_id in self.tables.posts:
            return False
        self.tables.posts[post.post_id] = {
            "id": post.post_id, "author_id": post.author_id, "text": post.text,
            "reply_to_id": post.reply_to_id, "quote_of_id": post.quote_of_id,
            "mentions": list(post.mentions), "hashtags": list(post.hashtags),
            "created_at": post.created_at, "deleted_at": None, "version": post.version,
            "likes_count": 0, "replies_count": 0, "reposts_count": 0,
            "media_ids": list(post.media_ids)}
        return True

    async def add_media(self, media: rm.NewMedia) -> None:
        self.calls.append("add_media")
        self.tables.media.setdefault(media.media_id, {
            "id": media.media_id, "owner_id": media.owner_id,
            "description": media.description, "blurhash": media.blurhash,
            "original": dict(media.original), "small": dict(media.small), "post_id": None,
            "post_index": None, "created_at": media.created_at, "version": media.version})

    async def describe_media(self, media_id: int, description: str, version: int) -> None:
        self.calls.append("describe_media")
        row = self.tables.media.get(media_id)
        if row is not None and row["version"] < version:
            row.update(description=description, version=version)

    async def attach_media(self, post_id: int, media_ids: Sequence[int]) -> None:
        self.calls.append("attach_media")
        for index, media_id in enumerate(media_ids, start=1):
            row = self.tables.media.get(media_id)
            if row is not None and row["post_id"] is None:
                row.update(post_id=post_id, post_index=index)

    async def lock_post(self, post_id: int) -> rm.StoredPost | None:
        self.calls.append("lock_post")
        row = self.tables.posts.get(post_id)
        return None if row is None else rm.StoredPost(row["deleted_at"] is not None,
                                                   row["reply_to_id"], tuple(row["hashtags"]))

    async def add_tombstone(self, post_id: int, author_id: int, deleted_at: str,
                            version: int) -> None:
        self.calls.append("add_tombstone")
        self.tables.posts.setdefault(post_id, {
            "id": post_id, "author_id": author_id, "text": "", "reply_to_id": None,
            "quote_of_id": None, "mentions": [], "hashtags": [], "created_at": deleted_at,
            "deleted_at": deleted_at, "version": version,
            "likes_count": 0, "replies_count": 0, "reposts_count": 0,
            "media_ids": []})

    async def mark_deleted(self, post_id: int, deleted_at: str, version: int) -> None:
        self.calls.append("mark_deleted")
        row = self.tables.posts.get(post_id)
        if row is not None:
            row.update(deleted_at=deleted_at, version=version)

    async def add_post_tags(self, post_id: int, author_id: int, tags: Sequence[str]) -> None:
        if not tags:
            return  # no statement
        self.calls.append("add_post_tags")
        held = {(tag, post) for tag, post, _ in self.tables.post_tags}
        self.tables.post_tags |= {(tag, post_id, author_id) for tag in tags
                                  if (tag, post_id) not in held}

    async def remove_post_tags(self, post_id: int, tags: Sequence[str]) -> None:
        if not tags:
            return  # no statement
        self.calls.append("remove_post_tags")
        self.tables.post_tags = {row for row in self.tables.post_tags
                                 if not (row[1] == post_id and row[0] in tags)}

    async def live_post_ids(self, author_id: int) -> list[int]:
        self.calls.append("live_post_ids")
        return sorted(i for i, row in self.tables.posts.items()
                      if row["author_id"] == author_id and row["deleted_at"] is None)

    async def active_edges(self, kind: rm.EdgeKind, account_id: int) -> list[rm.Edge]:
        self.calls.append("active_edges")
        both = kind in ("follows", "blocks", "mutes")
        return [edge for (a, b), edge in sorted(self.tables.edges[kind].items())
                if edge.active and (a == account_id or (both and b == account_id))]

    async def erase_account(self, account_id: int) -> None:
        self.calls.append("erase_account")
        for row in self.tables.posts.values():
            if row["author_id"] == account_id:
                row.update(text="", mentions=[], hashtags=[], media_ids=[])
        self.tables.post_tags = {t for t in self.tables.post_tags if t[2] != account_id}
        self.tables.media = {i: row for i, row in self.tables.media.items()
                             if row["owner_id"] != account_id}
        self.tables.accounts.pop(account_id, None)

    async def lock_edges(self, kind: rm.EdgeKind, keys: Sequence[rm.EdgeKey]
                         ) -> dict[rm.EdgeKey, rm.EdgeState]:
        self.calls.append("lock_edges")
        table = self.tables.edges[kind]
        return {key: rm.EdgeState(table[key].active, table[key].version)
                for key in keys if key in table}

    async def write_edges(self, kind: rm.EdgeKind, edges: Sequence[rm.Edge]) -> None:
        self.calls.append("write_edges")
        for edge in edges:
            self.tables.edges[kind][edge.a, edge.b] = \
                edge if kind == "reposts" else edge._replace(repost_id=None)

    async def add_to_counts(self, count: rm.Count, steps: Mapping[int, int]) -> None:
        if not any(steps.values()):
            return  # no statement
        self.calls.append("add_to_counts")
        rows = self.tables.accounts if count in rm.ACCOUNT_COUNTS else self.tables.posts
        for row_id, step in steps.items():
            row = rows.get(row_id)
            if row is not None:
                value = row[count] + step
                row[count] = value if count in rm.ACCOUNT_COUNTS else max(value, 0)

    async def post_counts(self, post_ids: Sequence[int]) -> dict[int, Counts]:
        self.calls.append("post_counts")
        posts = self.tables.posts
        wanted = {i for i in post_ids if i in posts}
        wanted |= {posts[i]["reply_to_id"] for i in list(wanted)
                   if posts[i]["reply_to_id"] in posts}
        return {i: {"likes_count": posts[i]["likes_count"],
                    "replies_count": posts[i]["replies_count"],
                    "reposts_count": posts[i]["reposts_count"],
                    "deleted": int(posts[i]["deleted_at"] is not None)} for i in wanted}

    async def facts(self, keys: FactKeys) -> Facts:
        self.calls.append("facts")
        accounts = self.tables.accounts
        ids = set(keys.accounts) | {i for i, row in accounts.items()
                                    if str(row["aggregate_id"]) in keys.account_aggregates}
        edges = self.tables.edges
        active = {kind: {key for key, edge in edges[kind].items() if edge.active}
                  for kind in rm.EDGE_KINDS}
        reposts = {edge.repost_id: edge for edge in edges["reposts"].values()
                   if edge.active and edge.repost_id is not None}
        return Facts(
            accounts={i: _shown(accounts[i]) if i in accounts
                      and accounts[i]["suspended_at"] is None else None for i in ids},
            reposts={i: RepostFact(reposts[i].a, reposts[i].since) if i in reposts else None
                     for i in keys.reposts},
            liked={pair: pair in active["likes"] for pair in keys.liked},
            reposted={pair: pair in active["reposts"] for pair in keys.reposted},
            hidden={(r, o): BLOCKED * ((r, o) in active["blocks"] or (o, r) in active["blocks"])
                    | MUTED * ((r, o) in active["mutes"]) for r, o in keys.hidden})


def _shown(row: Row) -> ShownAccount:
    return ShownAccount(id=row["id"], username=row["username"],
                        display_name=row["display_name"], bio=row["bio"],
                        avatar_url=row["avatar_url"], created_at=row["created_at"],
                        followers_count=row["followers_count"],
                        following_count=row["following_count"],
                        posts_count=row["posts_count"])


class FakeReadModelStore:
    """``ReadModelStore`` in memory: ``tables`` holds the committed rows (and, during a
    transaction, its writes so far)."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.calls: list[str] = []
        self._lock = asyncio.Lock()

    async def snapshot(self) -> Tables:
        """A copy of the tables, as a read from a server would be."""
        return copy.deepcopy(self.tables)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeReadModelWriter]:
        async with self._lock:
            before = copy.deepcopy(self.tables)
            try:
                yield FakeReadModelWriter(self.tables, self.calls)
            except BaseException:
                self.tables = before
                raise

    async def position(self) -> int:
        return self.tables.position or 0

    async def reset(self) -> None:
        async with self._lock:
            self.tables = Tables()

    async def analyze(self) -> None:
        pass
