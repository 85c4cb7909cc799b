"""An in-memory ``ports.timelines.TimelineStore``, with the Redis adapter's semantics.

Used by ``roost timeline show --at`` (``infra.timeline_at``: a home timeline rebuilt
from the events in memory) and, as ``tests.fakes.timelines.FakeTimelineStore``, by
the tests.

Oldest item per post wins, pushes land only in kept timelines, timelines and
authored items are trimmed to ``max_entries`` (the kept-marker counts as the
oldest entry), a timeline emptied by removals stops existing, TTLs expire (on
``clock``, checked at each access, as Redis does) and the position only moves
forward. ``tests/contracts/timelines.py`` runs one suite against
this fake and ``infra.timeline_store.RedisTimelineStore``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ports.timelines import HomeStart, Place, Reach, Reposts, TimelineItem, open_home_apart

MARKER: TimelineItem = (0, None)
"""What ``mark_kept`` puts in a timeline (never read back as an item): the oldest entry."""


@dataclass
class _Expiring:
    """Keyed values that vanish at their deadline (``clock`` seconds), like Redis keys."""

    clock: Callable[[], float]
    values: dict[int, dict[int, TimelineItem]] = field(default_factory=dict)
    deadlines: dict[int, float] = field(default_factory=dict)

    def get(self, key: int) -> dict[int, TimelineItem] | None:
        deadline = self.deadlines.get(key)
        if deadline is not None and self.clock() >= deadline:
            self.drop(key)
        return self.values.get(key)

    def create(self, key: int) -> dict[int, TimelineItem]:
        return self.get(key) or self.values.setdefault(key, {})

    def expire(self, key: int, ttl_s: float) -> bool:
        if self.get(key) is None:
            return False
        self.deadlines[key] = self.clock() + ttl_s
        return True

    def drop_if_empty(self, key: int) -> None:
        if not self.values.get(key, True):
            self.drop(key)

    def drop(self, key: int) -> None:
        self.values.pop(key, None)
        self.deadlines.pop(key, None)


class MemoryTimelineStore:
    """Home timelines, authored items, the follow graph, celebrities, reposts and the
    projector's position, in dicts. A timeline is ``item id -> item``; its index
    is ``original post id -> the repost item showing it``."""

    def __init__(self, max_entries: int = 800, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.reset_now()

    def reset_now(self) -> None:
        self.homes = _Expiring(self.clock)
        self.indexes = _Expiring(self.clock)
        self.authored: dict[int, dict[int, TimelineItem]] = {}
        self.followers_of: dict[int, set[int]] = {}
        self.following_of: dict[int, set[int]] = {}
        self.celebrity_marks: dict[int, TimelineItem | None] = {}
        self.reposts: dict[int, tuple[int | None, dict[int, int]]] = {}
        self.buried_posts: dict[int, set[int | None]] = {}
        self.edge_positions: dict[tuple[int, str], int] = {}
        self._position = 0

    def dump(self) -> dict[str, object]:
        """Everything the store holds (expired timelines left out), to compare states."""
        readers = sorted(set(self.homes.values) | set(self.indexes.values))
        return {
            "homes": {r: self.homes.get(r) for r in readers},
            "indexes": {r: self.indexes.get(r) for r in readers},
            "authored": {a: items for a, items in self.authored.items() if items},
            "followers": {a: f for a, f in self.followers_of.items() if f},
            "following": {a: f for a, f in self.following_of.items() if f},
            "celebrities": dict(self.celebrity_marks),
            "reposts": dict(self.reposts),
            "buried": {a: b for a, b in self.buried_posts.items() if b},
            "edge_positions": dict(self.edge_positions),
            "position": self._position,
        }

    # -- the projector's position ----------------------------------------------------

    async def position(self) -> int:
        return self._position

    async def advance(self, position: int) -> None:
        self._position = max(self._position, position)

    async def reset(self) -> None:
        self.reset_now()

    # -- pushes and removals ---------------------------------------------------------

    async def push(self, readers: Iterable[int], items: Sequence[TimelineItem], *,
                   only_kept: bool = True) -> None:
        for reader in readers:
            self._push(reader, items, only_kept)

    async def push_each(self, items_by_reader: Mapping[int, Sequence[TimelineItem]], *,
                        only_kept: bool = True) -> None:
        for reader, items in items_by_reader.items():
            self._push(reader, items, only_kept)

    def _push(self, reader: int, items: Sequence[TimelineItem], only_kept: bool) -> None:
        if not items or (only_kept and self.homes.get(reader) is None):
            return
        home = self.homes.create(reader)
        index = self.indexes.create(reader)
        for item in items:
            item_id, original = item
            if original is not None and original in home:
                continue  # the post itself is shown
            shown = index.get(item_id if original is None else original)
            if shown is not None and shown[0] in home:
                if shown[0] <= item_id:
                    continue  # an older (or the same) item shows the post
                del home[shown[0]]
            home[item_id] = item
            if original is not None:
                index[original] = item
            else:
                index.pop(item_id, None)
        for item_id in sorted(home)[:max(0, len(home) - self.max_entries)]:
            _, original = home.pop(item_id)
            if original is not None and index.get(original, (None,))[0] == item_id:
                del index[original]
        self.indexes.drop_if_empty(reader)

    async def remove(self, readers: Iterable[int], items: Sequence[TimelineItem]) -> None:
        for reader in readers:
            home = self.homes.get(reader) or {}
            index = self.indexes.get(reader) or {}
            for item_id, original in items:
                home.pop(item_id, None)
                if original is not None and index.get(original, (None,))[0] == item_id:
                    del index[original]
            self.homes.drop_if_empty(reader)
            self.indexes.drop_if_empty(reader)

    async def contains(self, checks: Sequence[tuple[Place, int, TimelineItem]]) -> list[bool]:
        found: list[bool] = []
        for place, account_id, item in checks:
            items = (self.homes.get(account_id) if place == "timeline"
                     else self.authored.get(account_id)) or {}
            found.append(items.get(item[0]) == item)
        return found

    # -- keeping timelines -----------------------------------------------------------

    def pinned(self) -> MemoryTimelineStore:
        """Itself: one copy."""
        return self

    async def keep_alive(self, reader_id: int, ttl_s: int) -> tuple[bool, list[int]]:
        kept = self.homes.expire(reader_id, ttl_s)
        self.indexes.expire(reader_id, ttl_s)
        return kept, await self.celebrities()

    async def open_home(self, reader_id: int, ttl_s: int, below: int | None, count: int
                        ) -> HomeStart:
        kept, celebrities = await self.keep_alive(reader_id, ttl_s)
        return await open_home_apart(self, reader_id, kept, celebrities, below, count)

    async def mark_kept(self, reader_id: int, ttl_s: int) -> None:
        self.homes.create(reader_id)[MARKER[0]] = MARKER
        self.homes.expire(reader_id, ttl_s)

    async def keep_for(self, reader_id: int, ttl_s: int) -> None:
        self.homes.expire(reader_id, ttl_s)

    async def is_kept(self, reader_id: int) -> bool:
        return self.homes.get(reader_id) is not None

    async def slices(self, reader_id: int, celebrities: Sequence[int], below: int | None,
                     count: int) -> list[list[TimelineItem]]:
        sources = [self.homes.get(reader_id) or {},
                   *(self.authored.get(c, {}) for c in celebrities)]
        return [[items[i] for i in sorted(items, reverse=True)
                 if MARKER[0] < i and (below is None or i < below)][:count]
                for items in sources]

    async def reach(self, reader_id: int, post_ids: Sequence[int],
                    celebrities: Sequence[int]) -> list[Reach]:
        home = self.homes.get(reader_id) or {}
        index = self.indexes.get(reader_id) or {}
        found: list[Reach] = []
        for post_id in post_ids:
            author, reposters = self.reposts.get(post_id, (None, {}))
            indexed = index.get(post_id)
            found.append(Reach(
                in_timeline=home.get(post_id) == (post_id, None),
                indexed_repost=indexed[0] if indexed is not None else None,
                author_id=author,
                celebrity_reposts=[reposters.get(c) for c in celebrities]))
        return found

    # -- the follow graph ------------------------------------------------------------

    async def followers(self, account_id: int) -> list[int]:
        return sorted(self.followers_of.get(account_id, ()))

    async def add_follows(self, follows: Sequence[tuple[int, int]]) -> list[int]:
        counts: list[int] = []
        for follower_id, followee_id in follows:
            followers = self.followers_of.setdefault(followee_id, set())
            followers.add(follower_id)
            counts.append(len(followers))
            self.following_of.setdefault(follower_id, set()).add(followee_id)
        return counts

    async def remove_follow(self, follower_id: int, followee_id: int) -> int:
        self.followers_of.get(followee_id, set()).discard(follower_id)
        self.following_of.get(follower_id, set()).discard(followee_id)
        return len(self.followers_of.get(followee_id, ()))

    async def following_among(self, reader_id: int, accounts: Sequence[int]) -> list[bool]:
        following = self.following_of.get(reader_id, set())
        return [a in following for a in accounts]

    # -- celebrities -----------------------------------------------------------------

    async def celebrities(self) -> list[int]:
        return sorted(self.celebrity_marks)

    async def is_celebrity(self, account_id: int) -> bool:
        return account_id in self.celebrity_marks

    async def celebrities_among(self, accounts: Sequence[int]) -> list[bool]:
        return [a in self.celebrity_marks for a in accounts]

    async def mark_celebrity(self, account_id: int, since: TimelineItem | None) -> None:
        self.celebrity_marks[account_id] = since

    async def celebrity_since(self, account_id: int) -> TimelineItem | None:
        return self.celebrity_marks.get(account_id)

    async def unmark_celebrity(self, account_id: int) -> None:
        self.celebrity_marks.pop(account_id, None)

    # -- authored items --------------------------------------------------------------

    async def add_authored(self, author_id: int, item: TimelineItem) -> None:
        items = self.authored.setdefault(author_id, {})
        items[item[0]] = item
        for item_id in sorted(items)[:max(0, len(items) - self.max_entries)]:
            del items[item_id]

    async def remove_authored(self, author_id: int, item: TimelineItem) -> None:
        items = self.authored.get(author_id, {})
        if items.get(item[0]) == item:
            del items[item[0]]

    async def recent_authored(self, account_id: int, count: int,
                              after: TimelineItem | None = None) -> list[TimelineItem]:
        items = self.authored.get(account_id, {})
        return [items[i] for i in sorted(items, reverse=True)
                if after is None or i > after[0]][:count]

    async def recent_authored_many(self, accounts: Sequence[int], count: int
                                   ) -> dict[int, list[TimelineItem]]:
        return {a: await self.recent_authored(a, count) for a in accounts}

    # -- reposts ---------------------------------------------------------------------

    async def record_repost(self, post_id: int, author_id: int, reposter_id: int,
                            repost_id: int) -> None:
        _, reposters = self.reposts.get(post_id, (None, {}))
        self.reposts[post_id] = (author_id, {**reposters, reposter_id: repost_id})

    async def forget_repost(self, post_id: int, reposter_id: int) -> None:
        if post_id in self.reposts:
            self.reposts[post_id][1].pop(reposter_id, None)

    async def forget_reposts(self, post_id: int) -> None:
        self.reposts.pop(post_id, None)

    async def note_edge(self, account_id: int, edge: str, position: int) -> None:
        self.edge_positions[(account_id, edge)] = position

    async def edge_noted(self, account_id: int, edge: str) -> int:
        return self.edge_positions.get((account_id, edge), 0)

    async def bury(self, author_id: int, post_id: int | None) -> None:
        self.buried_posts.setdefault(author_id, set()).add(post_id)

    async def buried(self, author_id: int, post_id: int) -> bool:
        buried = self.buried_posts.get(author_id, set())
        return post_id in buried or None in buried

    async def reposts_of(self, post_ids: Sequence[int]) -> list[Reposts]:
        found: list[Reposts] = []
        for post_id in post_ids:
            author, reposters = self.reposts.get(post_id, (None, {}))
            found.append(Reposts(author, dict(reposters)))
        return found
