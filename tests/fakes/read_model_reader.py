"""An in-memory ``ports.read_model_reader.ReadModelReader`` over rows a test puts in.

``ReadModelTables`` holds the read models as the projector would have left
them (``rm_accounts``, ``rm_posts`` and the edge tables, each edge active or
not); a test appends rows to ``FakeReadModelReader.tables`` (or builds the fake
with them), and the contract (``tests/contracts/read_model_reader.py``) seeds
the same tables into PostgreSQL for the real adapter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from domain.moments import rfc3339
from ports import read_model_reader as port
from ports.page_facts import BLOCKED, MUTED, FactKeys, Facts, RepostFact, ShownAccount
from ports.read_model_reader import AccountRow, Edge, HiddenAccounts
from ports.records import StoredImage
from ports.timelines import TimelineItem

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class StoredAccount:
    """A row of ``rm_accounts``."""

    id: int
    username: str
    display_name: str = ""
    bio: str = ""
    avatar_url: str = ""
    created_at: datetime = EPOCH
    followers_count: int = 0
    following_count: int = 0
    posts_count: int = 0
    suspended: bool = False
    """Its ``suspended_at`` is set."""


@dataclass
class StoredPost:
    """A row of ``rm_posts`` (``deleted``: its ``deleted_at`` is set)."""

    id: int
    author_id: int
    text: str = ""
    created_at: datetime = EPOCH
    reply_to_id: int | None = None
    quote_of_id: int | None = None
    mentions: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    likes_count: int = 0
    replies_count: int = 0
    reposts_count: int = 0
    deleted: bool = False
    media_ids: list[int] = field(default_factory=list)


@dataclass
class StoredMedia:
    """A row of ``rm_media``."""

    id: int
    owner_id: int
    original: dict[str, Any]
    small: dict[str, Any]
    description: str = ""
    blurhash: str = ""
    post_id: int | None = None
    created_at: datetime = EPOCH


@dataclass
class StoredEdge:
    """A row of ``rm_follows`` (follower → followee), ``rm_likes`` (account → post),
    ``rm_blocks`` (blocker → blocked) or ``rm_mutes`` (muter → muted)."""

    from_id: int
    to_id: int
    active: bool = True
    position: int = 1


@dataclass
class StoredRepost:
    """A row of ``rm_reposts``."""

    account_id: int
    post_id: int
    repost_id: int
    active: bool = True
    since: datetime = EPOCH
    position: int = 1


@dataclass
class ReadModelTables:
    accounts: list[StoredAccount] = field(default_factory=list)
    posts: list[StoredPost] = field(default_factory=list)
    follows: list[StoredEdge] = field(default_factory=list)
    likes: list[StoredEdge] = field(default_factory=list)
    reposts: list[StoredRepost] = field(default_factory=list)
    blocks: list[StoredEdge] = field(default_factory=list)
    mutes: list[StoredEdge] = field(default_factory=list)
    media: list[StoredMedia] = field(default_factory=list)


def _active(edges: list[StoredEdge]) -> Iterator[StoredEdge]:
    return (edge for edge in edges if edge.active)


def _shown_account(a: StoredAccount) -> ShownAccount:
    return ShownAccount(id=a.id, username=a.username, display_name=a.display_name, bio=a.bio,
                        avatar_url=a.avatar_url, created_at=rfc3339(a.created_at),
                        followers_count=a.followers_count,
                        following_count=a.following_count, posts_count=a.posts_count)


class FakeReadModelReader:
    """``ReadModelReader`` over ``tables``, answering as the SQL of
    ``infra.read_model_reader`` does. ``calls`` lists the methods called, in order."""

    def __init__(self, tables: ReadModelTables | None = None) -> None:
        self.tables = tables or ReadModelTables()
        self.calls: list[str] = []
        self.live_media_key_pages: list[int] = []  # how many keys each call asked about

    def _accounts(self) -> dict[int, StoredAccount]:
        return {a.id: a for a in self.tables.accounts}

    def _shown(self) -> dict[int, StoredAccount]:
        """The accounts shown to others: not suspended."""
        return {a.id: a for a in self.tables.accounts if not a.suspended}

    def _posts(self) -> dict[int, StoredPost]:
        return {p.id: p for p in self.tables.posts}

    @staticmethod
    def _row(a: StoredAccount) -> AccountRow:
        return {"id": a.id, "username": a.username, "display_name": a.display_name,
                "bio": a.bio, "avatar_url": a.avatar_url, "created_at": a.created_at,
                "followers_count": a.followers_count, "following_count": a.following_count,
                "posts_count": a.posts_count, "email": "", "suspended": a.suspended}

    def _named(self, username: str) -> StoredAccount | None:
        return next((a for a in self.tables.accounts
                     if a.username.lower() == username.lower()), None)

    async def account_id(self, username: str) -> int | None:
        self.calls.append("account_id")
        found = self._named(username)
        return None if found is None else found.id

    async def account_by_username(self, username: str) -> AccountRow | None:
        self.calls.append("account_by_username")
        found = self._named(username)
        return None if found is None else self._row(found)

    async def account_by_id(self, account_id: int) -> AccountRow | None:
        self.calls.append("account_by_id")
        found = self._accounts().get(account_id)
        return None if found is None else self._row(found)

    async def accounts_by_id(self, account_ids: Collection[int]) -> list[AccountRow]:
        self.calls.append("accounts_by_id")
        accounts = self._shown()
        return [self._row(accounts[i]) for i in set(account_ids) if i in accounts]

    async def follow_page(self, account_id: int, direction: port.FollowDirection, before: int,
                          excluding: Collection[int], limit: int) -> list[port.FollowRow]:
        self.calls.append("follow_page")
        accounts = self._shown()
        found: list[port.FollowRow] = []
        for edge in sorted(_active(self.tables.follows), key=lambda e: -e.position):
            mine, other = (edge.to_id, edge.from_id) if direction == "followers" \
                else (edge.from_id, edge.to_id)
            if mine == account_id and edge.position < before and other in accounts \
                    and other not in excluding:
                found.append({**self._row(accounts[other]), "position": edge.position})
        return found[:limit]

    async def edges_between(self, reader_id: int, other_id: int) -> list[Edge]:
        self.calls.append("edges_between")
        pair = {(reader_id, other_id), (other_id, reader_id)}
        edges = [Edge("follow", e.from_id, e.to_id) for e in _active(self.tables.follows)
                 if (e.from_id, e.to_id) in pair]
        edges += [Edge("block", e.from_id, e.to_id) for e in _active(self.tables.blocks)
                  if (e.from_id, e.to_id) in pair]
        edges += [Edge("mute", e.from_id, e.to_id) for e in _active(self.tables.mutes)
                  if (e.from_id, e.to_id) == (reader_id, other_id)]
        return edges

    def _hidden(self, reader_id: int) -> HiddenAccounts:
        blocked = {e.to_id for e in _active(self.tables.blocks) if e.from_id == reader_id}
        blocked |= {e.from_id for e in _active(self.tables.blocks) if e.to_id == reader_id}
        muted = {e.to_id for e in _active(self.tables.mutes) if e.from_id == reader_id}
        return HiddenAccounts(frozenset(blocked), frozenset(muted))

    async def hidden_accounts(self, reader_id: int) -> HiddenAccounts:
        self.calls.append("hidden_accounts")
        return self._hidden(reader_id)

    async def posts(self, post_ids: Sequence[int]) -> list[port.PostRow]:
        self.calls.append("posts")
        wanted = set(post_ids)
        return [{"id": p.id, "author_id": p.author_id, "text": p.text,
                 "created_at": p.created_at, "reply_to_id": p.reply_to_id,
                 "quote_of_id": p.quote_of_id, "mentions": list(p.mentions),
                 "hashtags": list(p.hashtags), "likes_count": p.likes_count,
                 "replies_count": p.replies_count, "reposts_count": p.reposts_count,
                 "deleted": int(p.deleted), "media_ids": list(p.media_ids)}
                for p in self.tables.posts if p.id in wanted]

    async def media(self, media_ids: Sequence[int]) -> list[port.MediaRow]:
        self.calls.append("media")
        wanted, posts, accounts = set(media_ids), self._posts(), self._accounts()
        return [{"id": m.id, "owner_id": m.owner_id, "description": m.description,
                 "blurhash": m.blurhash, "original": cast(StoredImage, dict(m.original)),
                 "small": cast(StoredImage, dict(m.small)),
                 "post_id": m.post_id,
                 "post_deleted": m.post_id in posts and posts[m.post_id].deleted,
                 "created_at": m.created_at,
                 "owner_suspended": m.owner_id in accounts and accounts[m.owner_id].suspended}
                for m in self.tables.media if m.id in wanted]

    async def live_media_keys(self, keys: Sequence[str], unattached_since: datetime
                              ) -> set[str]:
        self.calls.append("live_media_keys")
        self.live_media_key_pages.append(len(keys))
        posts, asked = self._posts(), set(keys)
        return asked & {variant["key"] for m in self.tables.media
                if (m.post_id is None and m.created_at >= unattached_since)
                or (m.post_id is not None
                    and not (m.post_id in posts and posts[m.post_id].deleted))
                for variant in (m.original, m.small)}

    async def page_rows(self, reader_id: int | None, author_ids: Collection[int],
                        repost_ids: Sequence[int], post_ids: Sequence[int],
                        parent_ids: Sequence[int]) -> port.PageRows:
        self.calls.append("page_rows")
        accounts, posts = self._shown(), self._posts()
        reposts: list[port.RepostRow] = [
            {**self._row(accounts[r.account_id]), "repost_id": r.repost_id, "since": r.since}
            for r in self.tables.reposts
            if r.repost_id in repost_ids and r.active and r.account_id in accounts]
        on_page = set(post_ids)
        mine = [e for e in _active(self.tables.likes) if e.from_id == reader_id]
        return port.PageRows(
            authors=[self._row(accounts[i]) for i in set(author_ids) if i in accounts],
            reposts=reposts,
            live_parents={i for i in parent_ids if i in posts and not posts[i].deleted
                          and posts[i].author_id in accounts},
            liked={e.to_id for e in mine if e.to_id in on_page},
            reposted={r.post_id for r in self.tables.reposts
                      if r.account_id == reader_id and r.active and r.post_id in on_page},
            hidden=HiddenAccounts() if reader_id is None else self._hidden(reader_id),
        )

    async def facts(self, keys: FactKeys) -> Facts:
        self.calls.append("facts")
        accounts = self._accounts()
        likes = {(e.from_id, e.to_id) for e in _active(self.tables.likes)}
        reposted = {(r.account_id, r.post_id) for r in self.tables.reposts if r.active}
        reposts = {r.repost_id: r for r in self.tables.reposts if r.active}
        blocks = {(e.from_id, e.to_id) for e in _active(self.tables.blocks)}
        mutes = {(e.from_id, e.to_id) for e in _active(self.tables.mutes)}
        return Facts(
            accounts={i: None if i not in accounts or accounts[i].suspended
                      else _shown_account(accounts[i]) for i in keys.accounts},
            reposts={i: RepostFact(reposts[i].account_id, rfc3339(reposts[i].since))
                     if i in reposts else None for i in keys.reposts},
            liked={pair: pair in likes for pair in keys.liked},
            reposted={pair: pair in reposted for pair in keys.reposted},
            hidden={(r, o): BLOCKED * ((r, o) in blocks or (o, r) in blocks)
                    | MUTED * ((r, o) in mutes) for r, o in keys.hidden})

    async def account_post_ids(self, author_id: int, before: int, limit: int) -> list[int]:
        self.calls.append("account_post_ids")
        return sorted((p.id for p in self.tables.posts
                       if p.author_id == author_id and not p.deleted and p.id < before),
                      reverse=True)[:limit]

    async def tagged_post_ids(self, tag: str, before: int, excluding_authors: Collection[int],
                              limit: int) -> list[int]:
        """From the live posts' hashtags: the rows the projector keeps in ``rm_post_tags``."""
        self.calls.append("tagged_post_ids")
        suspended = {a.id for a in self.tables.accounts if a.suspended}
        return sorted((p.id for p in self.tables.posts
                       if tag in p.hashtags and not p.deleted and p.id < before
                       and p.author_id not in {*excluding_authors, *suspended}),
                      reverse=True)[:limit]

    async def thread_ids(self, post_id: int, max_posts: int) -> port.ThreadIds:
        self.calls.append("thread_ids")
        posts = self._posts()
        ancestors: list[int] = []
        current = posts.get(post_id)
        while current is not None and current.reply_to_id is not None \
                and len(ancestors) < max_posts and current.reply_to_id in posts:
            current = posts[current.reply_to_id]
            ancestors.append(current.id)
        paths: list[list[int]] = []
        level = [[p.id] for p in self.tables.posts if p.reply_to_id == post_id]
        while level:
            paths += level
            level = [[*path, p.id] for path in level if len(path) < max_posts
                     for p in self.tables.posts if p.reply_to_id == path[-1]]
        return port.ThreadIds(ancestors[::-1], [path[-1] for path in sorted(paths)][:max_posts])

    async def rebuild_items(self, reader_id: int, excluded_authors: Collection[int],
                            limit: int) -> list[TimelineItem]:
        self.calls.append("rebuild_items")
        posts = self._posts()
        authors = {e.to_id for e in _active(self.tables.follows)
                   if e.from_id == reader_id and e.to_id not in excluded_authors}
        authors.add(reader_id)
        own = sorted((p.id for p in self.tables.posts
                      if p.author_id in authors and not p.deleted), reverse=True)[:limit]
        shared = sorted(((r.repost_id, r.post_id) for r in self.tables.reposts
                         if r.account_id in authors and r.active and r.post_id in posts
                         and not posts[r.post_id].deleted), reverse=True)[:limit]
        return [(i, None) for i in own] + list(shared)
