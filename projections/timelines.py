"""Redis home timelines: hybrid fan-out on write.

The projector keeps, from the same ordered event stream, everything fan-out
needs: follower and following sets, each account's recent posts and reposts
(``authored``), which accounts are celebrities, and who reposted what. So
fan-out never races another projection. Every write is a set operation of
fixed members, so applying an event twice changes nothing.

Fan-out rules:

* a post or repost goes to its author's own timeline and, unless the author
  has more than ``celebrity_threshold`` followers, to every follower's;
  celebrities' posts are merged in at read time instead;
* only kept timelines (readers active within the active window) receive
  pushes; an absent timeline is rebuilt from the read models on the next read;
* following backfills the followee's recent items, unfollowing removes them;
* an author falling back below the threshold has the posts made while a
  celebrity pushed to every follower, so no timeline is left with a hole;
* deleting a post removes it and every repost of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from redis.asyncio import Redis

from infra.lua import load_script
from infra.redis_keys import REPOSTS_AUTHOR_FIELD, SENTINEL, RedisKeys, member
from infra.timeline_store import Item, RedisTimelineStore
from ports.events import EventEnvelope
from ports.live import LiveEventPublisher
from ports.projectors import TIMELINES
from projections.home_stream import HomeStream


class TimelineProjector:
    name = TIMELINES

    def __init__(
        self, redis: Redis, keys: RedisKeys, max_entries: int = 800, backfill: int = 100,
        batch: int = 1000, celebrity_threshold: int = 10_000,
        live: LiveEventPublisher | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.max_entries = max_entries
        self.backfill = backfill
        self.batch = batch
        self.celebrity_threshold = celebrity_threshold
        self.store = RedisTimelineStore(redis, keys, max_entries, batch)
        self._add_counting = redis.register_script(_ADD_COUNTING)
        self.live = HomeStream(live)  # home-stream events of live applies (worker only)

    async def position(self) -> int:
        value = await self.redis.get(self.keys.projection_position(self.name))
        return int(value) if value else 0

    async def apply(self, event: EventEnvelope) -> None:
        await self.apply_batch([event])

    async def apply_batch(self, events: Sequence[EventEnvelope]) -> None:
        """Apply in order, then record the last position (writes are idempotent, so
        a crash part-way is repaired by applying the batch again)."""
        position = await self.position()
        fresh = [e for e in events if e.position > position]
        self.live.start()
        for run in _runs(fresh):
            if len(run) > 1:  # follows, the bulk of any log: a few round trips per run
                await self._followed_many([(e.payload["follower_id"], e.payload["followee_id"])
                                           for e in run])
            else:
                self.live.at(run[0].position)
                await self.replay(run[0])
        await self.live.flush()  # after the writes, before the position
        if fresh:
            await self.advance(fresh[-1].position)

    async def replay(self, event: EventEnvelope) -> None:
        """The event's writes alone (idempotent), without touching the position."""
        p = event.payload
        match event.type:
            case "PostCreated":
                await self._publish(p["author_id"], (member(p["post_id"]), ""))
            case "PostDeleted":
                await self._post_deleted(p["author_id"], p["post_id"])
            case "Reposted" | "Rereposted":
                await self._reposted(p["account_id"], p["post_id"], p["repost_id"],
                                     p["post_author_id"])
            case "Unreposted":
                await self._unreposted(p["account_id"], p["post_id"], p["repost_id"])
            case "Followed" | "Refollowed":
                await self._followed(p["follower_id"], p["followee_id"])
            case "Unfollowed":
                await self._unfollowed(p["follower_id"], p["followee_id"])

    async def advance(self, position: int) -> None:
        # Only ever forward: GET-compare-SET in one script.
        await self.redis.eval(_ADVANCE, 1, self.keys.projection_position(self.name), position)

    async def reset(self) -> None:
        for pattern in self.keys.timeline_patterns():
            batch: list[bytes] = []
            async for key in self.redis.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= self.batch:
                    await self.redis.unlink(*batch)
                    batch.clear()
            if batch:
                await self.redis.unlink(*batch)
        await self.redis.unlink(self.keys.projection_position(self.name))

    async def after_rebuild(self) -> None:
        """Nothing to refresh: Redis has no planner."""

    # -- helpers ---------------------------------------------------------

    async def _followers(self, account_id: int) -> list[int]:
        return [int(f) for f in await self.redis.smembers(self.keys.followers(account_id))]

    async def _is_celebrity(self, account_id: int) -> bool:
        return bool(await self.redis.sismember(self.keys.celebrities(), str(account_id)))

    async def _audience(self, author_id: int, *, pushed_only: bool) -> list[int]:
        """Whose timelines an author's item goes to (``pushed_only``) or may be in."""
        if pushed_only and await self._is_celebrity(author_id):
            return [author_id]
        return [author_id, *await self._followers(author_id)]

    async def _add_authored(self, author_id: int, item: str) -> None:
        key = self.keys.authored(author_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {item: 0})
            pipe.zremrangebyrank(key, 0, -(self.max_entries + 1))
            await pipe.execute()

    async def _recent_authored(self, account_id: int, count: int, after: str = "-"
                               ) -> list[Item]:
        raw = await self.redis.zrange(self.keys.authored(account_id), "+", after, desc=True,
                                      bylex=True, offset=0, num=count)
        return [_item(m) for m in raw if isinstance(m, bytes | str)]

    # -- events ----------------------------------------------------------

    async def _publish(self, author_id: int, item: Item) -> None:
        await self._add_authored(author_id, item[0])
        readers = await self._audience(author_id, pushed_only=True)
        await self.store.push(readers, [item])
        self.live.updated(author_id, readers, item)

    async def _withdraw(self, author_id: int, item: Item) -> None:
        await self.redis.zrem(self.keys.authored(author_id), item[0])
        readers = await self._audience(author_id, pushed_only=False)
        await self.store.remove(readers, [item])
        self.live.withdrawn(readers, item)

    async def _post_deleted(self, author_id: int, post_id: int) -> None:
        await self._withdraw(author_id, (member(post_id), ""))
        reposts_key = self.keys.reposts_of(post_id)
        _, reposts = _reposts(await self.redis.hgetall(reposts_key))
        for reposter, repost_member in reposts.items():
            await self._withdraw(reposter, (repost_member, member(post_id)))
        await self.redis.unlink(reposts_key)

    async def _reposted(self, account_id: int, post_id: int, repost_id: int, author_id: int
                        ) -> None:
        item = (member(repost_id, post_id), member(post_id))
        await self.redis.hset(self.keys.reposts_of(post_id),
                              mapping={str(account_id): item[0], REPOSTS_AUTHOR_FIELD: author_id})
        await self._publish(account_id, item)

    async def _unreposted(self, account_id: int, post_id: int, repost_id: int) -> None:
        await self.redis.hdel(self.keys.reposts_of(post_id), str(account_id))
        await self._withdraw(account_id, (member(repost_id, post_id), member(post_id)))
        await self._repair(await self._audience(account_id, pushed_only=False), [post_id])

    async def _repair(self, readers: list[int], post_ids: list[int]) -> None:
        """After items were taken away, show each post again through whatever way
        the reader still reaches it: its author, or another followed reposter.

        Every such item is pushed; the push keeps the oldest one per post, so
        the timeline ends as a rebuild from the read models would make it.
        """
        if not readers or not post_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for post_id in post_ids:
                pipe.hgetall(self.keys.reposts_of(post_id))
            found = [_reposts(raw) for raw in await pipe.execute()]
        routes: list[tuple[int, int, Item]] = []  # (post, account to follow, item)
        async with self.redis.pipeline(transaction=False) as pipe:
            for post_id, (author, _) in zip(post_ids, found, strict=True):
                pipe.zscore(self.keys.authored(author or 0), member(post_id))
            alive = await pipe.execute()
        for post_id, (author, reposts), live in zip(post_ids, found, alive, strict=True):
            if author is not None and live is not None:
                routes.append((post_id, author, (member(post_id), "")))
            routes += [(post_id, r, (m, member(post_id))) for r, m in reposts.items()]
        if not routes:
            return
        via = sorted({account for _, account, _ in routes})
        for reader in readers:
            follows = await self.redis.smismember(self.keys.following(reader), via)
            reachable = {a for a, f in zip(via, follows, strict=True) if f} | {reader}
            items = sorted(item for _, account, item in routes if account in reachable)
            await self.store.push([reader], items)

    async def _followed(self, follower_id: int, followee_id: int) -> None:
        await self._followed_many([(follower_id, followee_id)])

    async def _followed_many(self, follows: Sequence[tuple[int, int]]) -> None:
        """Record follows, in order; promote a followee the moment it crosses the
        threshold; backfill each follower with the recent items of the followees
        that are not celebrities, one push per follower."""
        by_followee: dict[int, list[int]] = {}
        by_follower: dict[int, list[int]] = {}
        for follower_id, followee_id in follows:
            by_followee.setdefault(followee_id, []).append(follower_id)
            by_follower.setdefault(follower_id, []).append(followee_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for followee_id, followers in by_followee.items():
                await self._add_counting(keys=[self.keys.followers(followee_id)],
                                         args=followers, client=pipe)
            for follower_id, followees in by_follower.items():
                pipe.sadd(self.keys.following(follower_id), *followees)
            found = await pipe.execute()
        after = {f: iter(c) for f, c in zip(by_followee, found, strict=False)}
        counts = [int(next(after[followee])) for _, followee in follows]  # after each follow
        followees = list(by_followee)
        famous = dict(zip(followees, await self.redis.smismember(
            self.keys.celebrities(), [str(f) for f in followees]), strict=True))
        backfill: dict[int, set[int]] = {}  # follower -> followees to backfill from
        for (follower_id, followee_id), audience in zip(follows, counts, strict=True):
            if audience > self.celebrity_threshold and not famous[followee_id]:
                await self._promote(followee_id)
                famous[followee_id] = 1
            if not famous[followee_id]:
                backfill.setdefault(follower_id, set()).add(followee_id)
        sources = sorted({f for wanted in backfill.values() for f in wanted})
        async with self.redis.pipeline(transaction=False) as pipe:
            for followee_id in sources:
                pipe.zrange(self.keys.authored(followee_id), "+", "-", desc=True, bylex=True,
                            offset=0, num=self.backfill)
            recent = {f: [_item(m) for m in raw]
                      for f, raw in zip(sources, await pipe.execute(), strict=True)}
        await self.store.push_each({
            follower_id: sorted({item for f in wanted for item in recent[f]})
            for follower_id, wanted in backfill.items()})

    async def _unfollowed(self, follower_id: int, followee_id: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.srem(self.keys.followers(followee_id), follower_id)
            pipe.srem(self.keys.following(follower_id), followee_id)
            pipe.scard(self.keys.followers(followee_id))
            _, _, followers = await pipe.execute()
        authored = await self._recent_authored(followee_id, self.max_entries)
        await self.store.remove([follower_id], authored)
        originals = sorted({int(original or item) for item, original in authored})
        await self._repair([follower_id], originals)
        if followers <= self.celebrity_threshold and await self._is_celebrity(followee_id):
            await self._demote(followee_id)

    async def _promote(self, account_id: int) -> None:
        newest = await self._recent_authored(account_id, 1)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.celebrity_since(account_id), newest[0][0] if newest else SENTINEL)
            pipe.sadd(self.keys.celebrities(), str(account_id))
            await pipe.execute()

    async def _demote(self, account_id: int) -> None:
        """Push what was only pulled while a celebrity, then resume pushing.

        Everything since the promotion goes to every follower, and so does the
        usual follow backfill, for those who followed while the author was a
        celebrity (their follow was not backfilled, the posts were pulled).
        """
        since = await self.redis.get(self.keys.celebrity_since(account_id))
        after = f"({_text(since)}" if since else "-"
        missed = await self._recent_authored(account_id, self.max_entries, after)
        recent = await self._recent_authored(account_id, self.backfill)
        await self.store.push(await self._followers(account_id),
                              sorted(set(missed) | set(recent)))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(self.keys.celebrities(), str(account_id))
            pipe.unlink(self.keys.celebrity_since(account_id))
            await pipe.execute()


_ADD_COUNTING = load_script("projections", "timelines_add_counting")
"""Add members to a set one by one; its size after each (one key: Cluster-safe)."""
_ADVANCE = load_script("projections", "timelines_advance")
"""Set a position only if it moves forward (GET-compare-SET in one script)."""
_FOLLOWS = frozenset({"Followed", "Refollowed"})


def _runs(events: Sequence[EventEnvelope]) -> Iterator[list[EventEnvelope]]:
    """Consecutive follows together; every other event alone."""
    run: list[EventEnvelope] = []
    for event in events:
        if run and not (event.type in _FOLLOWS and run[-1].type in _FOLLOWS):
            yield run
            run = []
        run.append(event)
    if run:
        yield run


def _reposts(raw: dict[bytes | str, bytes | str]) -> tuple[int | None, dict[int, str]]:
    """A ``repostsof`` hash: (the post's author if known, reposter -> repost member)."""
    author: int | None = None
    reposts: dict[int, str] = {}
    for key, value in raw.items():
        name = _text(key)
        if name == REPOSTS_AUTHOR_FIELD:
            author = int(value)
        else:
            reposts[int(name)] = _text(value)
    return author, reposts


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _item(raw: bytes | str) -> Item:
    text = _text(raw)
    _, _, original = text.partition(":")
    return (text, original)
