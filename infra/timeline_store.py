"""Home timelines in Redis: the adapter of ``ports.timelines.TimelineStore``.

Every Redis command of the timeline projector and the home query is here;
the key layout is ``infra.redis_keys`` (members, the kept-marker ``SENTINEL``,
``repostsof`` hashes), the Lua scripts are the ``timeline_store_*.lua`` files
beside this module, loaded once. Callers see ``TimelineItem`` pairs of ints.

Pushes and removals run a script on the two keys (the timeline and its index
of originals) of a batch of readers, so a fan-out costs the client one call
per ~``batch`` timeline writes rather than one per reader (the per-command
cost of redis-py dominated fan-out and backfill), pipelined ``batch`` readers
at a time. A call is atomic. Like the other multi-key commands here it
assumes one Redis, not Redis Cluster (there, every key of a call would need
one hash slot). A push

* does nothing for a timeline that is not kept (the reader has been away
  longer than the active window); it is rebuilt when the reader returns;
* shows each original post at most once, by its oldest item: the post
  itself, else its earliest repost seen. A newer item for a post already
  shown is skipped, an older one takes its place. So the outcome does not
  depend on the order of pushes, and a rebuilt timeline equals a pushed one;
* trims the timeline to its maximum length, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.crc import key_slot

from infra.lua import PipelinedScript, load_script, pipelined
from infra.redis_cleanup import unlink_matching
from infra.redis_clients import is_cluster
from infra.redis_keys import (
    ERASED,
    ID_WIDTH,
    REPOSTS_AUTHOR_FIELD,
    SENTINEL,
    RedisKeys,
    member,
)
from ports.projectors import TIMELINES
from ports.timelines import HomeStart, Place, Reach, Reposts, TimelineItem, open_home_apart

_PUSH = load_script("infra", "timeline_store_push")
_REMOVE = load_script("infra", "timeline_store_remove")
_ADD_COUNTING = load_script("infra", "timeline_store_add_counting")
_ADVANCE = load_script("infra", "timeline_store_advance")
OPEN_HOME = PipelinedScript(load_script("infra", "timeline_store_open"))
"""``open_home``'s script, sent as a bare ``EVALSHA`` (see ``infra.lua.PipelinedScript``)."""

Encoded = tuple[str, str]
"""A ``TimelineItem`` as the scripts take it: (member, original's member or "")."""


class RedisTimelineStore:
    """Timelines, authored items, the follow graph, celebrities, reposts and the
    timeline projector's position, under ``keys``'s prefix.

    ``max_entries`` bounds each timeline and ``authored`` set; ``batch`` is the
    number of timeline writes per script call and of readers per pipeline (and
    of keys per ``UNLINK`` in ``reset``).
    """

    def __init__(self, redis: Redis, keys: RedisKeys, max_entries: int, batch: int = 1000
                 ) -> None:
        self.redis = redis
        self.keys = keys
        self.max_entries = max_entries
        self.batch = batch
        self._push = PipelinedScript(_PUSH)
        self._remove = PipelinedScript(_REMOVE)
        self._add_counting = PipelinedScript(_ADD_COUNTING)
        self._advance = redis.register_script(_ADVANCE)
        self._position = keys.projection_position(TIMELINES)
        self._cluster = is_cluster(redis)
        head, _, tail = keys.authored(_SOME_ID).rpartition(str(_SOME_ID))
        self._authored_around = (head, tail)

    # -- the projector's position ----------------------------------------------------

    async def position(self) -> int:
        value = await self.redis.get(self._position)
        return int(value) if value else 0

    async def advance(self, position: int) -> None:
        await self._advance(keys=[self._position], args=[position])

    async def reset(self) -> None:
        for pattern in self.keys.timeline_patterns():
            await unlink_matching(self.redis, pattern, self.batch)
        await self.redis.unlink(self._position)

    # -- pushes and removals ---------------------------------------------------------

    async def push(self, readers: Iterable[int], items: Sequence[TimelineItem], *,
                   only_kept: bool = True) -> None:
        if items:
            args = self._push_args(_encode(items, {}), only_kept)
            await self._pipelined(self._push, ((chunk, args) for chunk in
                                               self._chunks(readers, len(items))))

    async def push_each(self, items_by_reader: Mapping[int, Sequence[TimelineItem]], *,
                        only_kept: bool = True) -> None:
        """One script call per reader, pipelined; items shared by readers are encoded once."""
        seen: dict[TimelineItem, Encoded] = {}
        await self._pipelined(self._push, (
            ([reader], self._push_args(_encode(items, seen), only_kept))
            for reader, items in items_by_reader.items() if items))

    async def remove(self, readers: Iterable[int], items: Sequence[TimelineItem]) -> None:
        if items:
            args = _flatten(_encode(items, {}))
            await self._pipelined(self._remove, ((chunk, args) for chunk in
                                                 self._chunks(readers, len(items))))

    def _push_args(self, items: Sequence[Encoded], only_kept: bool) -> list[str | int]:
        return [self.max_entries, "1" if only_kept else "0", *_flatten(items)]

    def _timeline_keys(self, readers: Sequence[int]) -> list[str]:
        return [key for reader in readers
                for key in (self.keys.home(reader), self.keys.home_index(reader))]

    def _chunks(self, readers: Iterable[int], items: int) -> Iterator[list[int]]:
        """Readers per script call: about ``batch`` item writes, so that no call holds
        Redis for long (a 10,000-follower fan-out of one post: 10 calls). On a Redis
        Cluster a call's readers share a hash slot (a script's keys must): the readers
        are grouped by the slot of their hash tag first, each group cut the same way."""
        per_call = max(1, self.batch // max(1, items))
        groups: dict[int, list[int]] = {}
        for reader in readers:
            chunk = groups.setdefault(self._slot(reader), [])
            chunk.append(reader)
            if len(chunk) >= per_call:
                yield chunk
                groups[self._slot(reader)] = []
        yield from (chunk for chunk in groups.values() if chunk)

    def _slot(self, reader: int) -> int:
        """The hash slot of the reader's keys on a cluster; 0 (one group) otherwise."""
        return key_slot(self.keys.home(reader).encode()) if self._cluster else 0

    async def _pipelined(self, script: PipelinedScript,
                         calls: Iterable[tuple[list[int], Sequence[str | int]]]) -> None:
        """The calls in pipelines of up to ``batch`` readers (each pipeline sent again
        after loading the script if Redis did not have it: pushes and removals are
        idempotent)."""
        chunk: list[tuple[list[int], Sequence[str | int]]] = []
        pending = 0
        for readers, args in calls:
            chunk.append((readers, args))
            pending += len(readers)
            if pending >= self.batch:
                await self._send(script, chunk)
                chunk, pending = [], 0
        if chunk:
            await self._send(script, chunk)

    async def _send(self, script: PipelinedScript,
                    calls: Sequence[tuple[list[int], Sequence[str | int]]]) -> None:
        def fill(pipe: Pipeline) -> None:
            for readers, args in calls:
                script.queue(pipe, self._timeline_keys(readers), args)

        await pipelined(self.redis, [script], fill)

    async def contains(self, checks: Sequence[tuple[Place, int, TimelineItem]]) -> list[bool]:
        if not checks:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for place, account_id, item in checks:
                key = self.keys.home(account_id) if place == "timeline" \
                    else self.keys.authored(account_id)
                pipe.zscore(key, member(*item))
            return [score is not None for score in await pipe.execute()]

    # -- keeping timelines (the home query) -----------------------------------------

    def pinned(self) -> RedisTimelineStore:
        """Itself: one copy (``infra.live_timelines.LiveTimelines`` follows the live one)."""
        return self

    async def keep_alive(self, reader_id: int, ttl_s: int) -> tuple[bool, list[int]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_keep_alive(pipe, reader_id, ttl_s)
            return kept_answer(await pipe.execute())

    def queue_keep_alive(self, pipe: Pipeline, reader_id: int, ttl_s: int) -> None:
        """``keep_alive``'s three commands, queued on ``pipe`` (their answers read by
        ``kept_answer``), for a caller that sends more in the same round trip."""
        pipe.expire(self.keys.home(reader_id), ttl_s)
        pipe.expire(self.keys.home_index(reader_id), ttl_s)
        pipe.smembers(self.keys.celebrities())

    async def open_home(self, reader_id: int, ttl_s: int, below: int | None, count: int
                        ) -> HomeStart:
        if self._cluster:  # the script reads keys of several slots: its reads one by one
            kept, every = await self.keep_alive(reader_id, ttl_s)
            return await self.open_rest(reader_id, kept, every, below, count)

        return opened_answer(await pipelined(
            self.redis, [OPEN_HOME],
            lambda pipe: self.queue_open_home(pipe, reader_id, ttl_s, below, count)))

    async def open_rest(self, reader_id: int, kept: bool, celebrities: list[int],
                        below: int | None, count: int) -> HomeStart:
        """``open_home``'s answer on a Redis Cluster, after ``keep_alive``'s (``kept``,
        ``celebrities``): what ``timeline_store_open.lua`` reads on one Redis, in two
        more round trips (the followed celebrities, then the slices)."""
        return await open_home_apart(self, reader_id, kept, celebrities, below, count)

    def queue_open_home(self, pipe: Pipeline, reader_id: int, ttl_s: int, below: int | None,
                        count: int) -> None:
        """``open_home``'s script, queued on ``pipe`` (its answer read by
        ``opened_answer``), for a caller that sends more in the same round trip. One
        call: ``keep_alive``, ``following_among`` and ``slices`` each took one."""
        keys = [self.keys.home(reader_id), self.keys.home_index(reader_id),
                self.keys.celebrities(), self.keys.following(reader_id)]
        OPEN_HOME.queue(pipe, keys, [ttl_s, *_lex_bounds(below), count, *self._authored_around])

    async def mark_kept(self, reader_id: int, ttl_s: int) -> None:
        home = self.keys.home(reader_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(home, {SENTINEL: 0})
            pipe.expire(home, ttl_s)
            await pipe.execute()

    async def keep_for(self, reader_id: int, ttl_s: int) -> None:
        await self.redis.expire(self.keys.home(reader_id), ttl_s)

    async def is_kept(self, reader_id: int) -> bool:
        return bool(await self.redis.exists(self.keys.home(reader_id)))

    def queue_is_kept(self, pipe: Pipeline, reader_id: int) -> None:
        """``is_kept``'s command, queued on ``pipe`` (its answer: truthy when kept)."""
        pipe.exists(self.keys.home(reader_id))

    async def slices(self, reader_id: int, celebrities: Sequence[int], below: int | None,
                     count: int) -> list[list[TimelineItem]]:
        sources = [self.keys.home(reader_id), *(self.keys.authored(c) for c in celebrities)]
        upper, lower = _lex_bounds(below)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in sources:
                pipe.zrange(key, upper, lower, desc=True, bylex=True, offset=0, num=count)
            return [[_decode(m) for m in found] for found in await pipe.execute()]

    async def reach(self, reader_id: int, post_ids: Sequence[int],
                    celebrities: Sequence[int]) -> list[Reach]:
        if not post_ids:
            return []
        home, index = self.keys.home(reader_id), self.keys.home_index(reader_id)
        fields = [REPOSTS_AUTHOR_FIELD, *(str(c) for c in celebrities)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for post_id in post_ids:
                pipe.zscore(home, member(post_id))
                pipe.hget(index, member(post_id))
                pipe.hmget(self.keys.reposts_of(post_id), fields)
            answers = iter(await pipe.execute())
        found: list[Reach] = []
        for _ in post_ids:
            in_home, indexed, (author, *reposts) = next(answers), next(answers), next(answers)
            found.append(Reach(
                in_timeline=in_home is not None,
                indexed_repost=_item_id(indexed) if indexed else None,
                author_id=int(author) if author is not None else None,
                celebrity_reposts=[_item_id(r) if r else None for r in reposts]))
        return found

    # -- the follow graph ------------------------------------------------------------

    async def followers(self, account_id: int) -> list[int]:
        return [int(f) for f in await self.redis.smembers(self.keys.followers(account_id))]

    async def add_follows(self, follows: Sequence[tuple[int, int]]) -> list[int]:
        """One pipeline: a script per followee adds its new followers one by one and
        answers the set's size after each; one ``SADD`` per follower."""
        by_followee: dict[int, list[int]] = {}
        by_follower: dict[int, list[int]] = {}
        for follower_id, followee_id in follows:
            by_followee.setdefault(followee_id, []).append(follower_id)
            by_follower.setdefault(follower_id, []).append(followee_id)
        if not follows:
            return []
        # Sent again after NOSCRIPT (the SADDs are idempotent). If another client loaded a
        # script meanwhile, some ran in the first send: for their followers the second
        # answers the set's final size, not its size right after that follower's add
        # (as any retried batch would; the celebrity check compares with >, so none is
        # missed).
        def fill(pipe: Pipeline) -> None:
            for followee_id, followers in by_followee.items():
                self._add_counting.queue(pipe, [self.keys.followers(followee_id)],
                                         followers)
            for follower_id, followees in by_follower.items():
                pipe.sadd(self.keys.following(follower_id), *followees)

        found = await pipelined(self.redis, [self._add_counting], fill)
        after = {f: iter(c) for f, c in zip(by_followee, found, strict=False)}
        return [int(next(after[followee])) for _, followee in follows]

    async def remove_follow(self, follower_id: int, followee_id: int) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.srem(self.keys.followers(followee_id), follower_id)
            pipe.srem(self.keys.following(follower_id), followee_id)
            pipe.scard(self.keys.followers(followee_id))
            _, _, followers = await pipe.execute()
        return int(followers)

    async def following_among(self, reader_id: int, accounts: Sequence[int]) -> list[bool]:
        if not accounts:
            return []
        found = await self.redis.smismember(self.keys.following(reader_id), list(accounts))
        return [bool(f) for f in found]

    # -- celebrities -----------------------------------------------------------------

    async def celebrities(self) -> list[int]:
        return [int(c) for c in await self.redis.smembers(self.keys.celebrities())]

    async def is_celebrity(self, account_id: int) -> bool:
        return bool(await self.redis.sismember(self.keys.celebrities(), str(account_id)))

    async def celebrities_among(self, accounts: Sequence[int]) -> list[bool]:
        if not accounts:
            return []
        found = await self.redis.smismember(self.keys.celebrities(), [str(a) for a in accounts])
        return [bool(f) for f in found]

    async def mark_celebrity(self, account_id: int, since: TimelineItem | None) -> None:
        """The account's ``celebsince`` first, then its place in ``celebrities``: two
        commands in this order, not a transaction (the two keys are in different slots
        of a Redis Cluster), so no reader finds a celebrity without its mark."""
        await self.redis.set(self.keys.celebrity_since(account_id),
                             member(*since) if since is not None else SENTINEL)
        await self.redis.sadd(self.keys.celebrities(), str(account_id))

    async def celebrity_since(self, account_id: int) -> TimelineItem | None:
        since = await self.redis.get(self.keys.celebrity_since(account_id))
        return _decode(since) if since and _text(since) != SENTINEL else None

    async def unmark_celebrity(self, account_id: int) -> None:
        """Out of ``celebrities`` first, then its mark (``mark_celebrity``'s order
        reversed)."""
        await self.redis.srem(self.keys.celebrities(), str(account_id))
        await self.redis.unlink(self.keys.celebrity_since(account_id))

    # -- tombstones and edge positions (for replays of parked events) ----------------

    async def note_edge(self, account_id: int, edge: str, position: int) -> None:
        await self.redis.hset(self.keys.edge_positions(account_id), edge, position)

    async def edge_noted(self, account_id: int, edge: str) -> int:
        found = await self.redis.hget(self.keys.edge_positions(account_id), edge)
        return int(found) if found is not None else 0

    async def bury(self, author_id: int, post_id: int | None) -> None:
        await self.redis.sadd(self.keys.deleted(author_id),
                              ERASED if post_id is None else str(post_id))

    async def buried(self, author_id: int, post_id: int) -> bool:
        found = await self.redis.smismember(self.keys.deleted(author_id), [str(post_id), ERASED])
        return any(found)

    # -- authored items --------------------------------------------------------------

    async def add_authored(self, author_id: int, item: TimelineItem) -> None:
        key = self.keys.authored(author_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {member(*item): 0})
            pipe.zremrangebyrank(key, 0, -(self.max_entries + 1))
            await pipe.execute()

    async def remove_authored(self, author_id: int, item: TimelineItem) -> None:
        await self.redis.zrem(self.keys.authored(author_id), member(*item))

    async def recent_authored(self, account_id: int, count: int,
                              after: TimelineItem | None = None) -> list[TimelineItem]:
        lower = f"({member(*after)}" if after is not None else "-"
        raw = await self.redis.zrange(self.keys.authored(account_id), "+", lower, desc=True,
                                      bylex=True, offset=0, num=count)
        return [_decode(m) for m in raw if isinstance(m, bytes | str)]

    async def recent_authored_many(self, accounts: Sequence[int], count: int
                                   ) -> dict[int, list[TimelineItem]]:
        if not accounts:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for account_id in accounts:
                pipe.zrange(self.keys.authored(account_id), "+", "-", desc=True, bylex=True,
                            offset=0, num=count)
            found = await pipe.execute()
        return {a: [_decode(m) for m in raw] for a, raw in zip(accounts, found, strict=True)}

    # -- reposts ---------------------------------------------------------------------

    async def record_repost(self, post_id: int, author_id: int, reposter_id: int,
                            repost_id: int) -> None:
        await self.redis.hset(self.keys.reposts_of(post_id), mapping={
            str(reposter_id): member(repost_id, post_id), REPOSTS_AUTHOR_FIELD: author_id})

    async def forget_repost(self, post_id: int, reposter_id: int) -> None:
        await self.redis.hdel(self.keys.reposts_of(post_id), str(reposter_id))

    async def forget_reposts(self, post_id: int) -> None:
        await self.redis.unlink(self.keys.reposts_of(post_id))

    async def reposts_of(self, post_ids: Sequence[int]) -> list[Reposts]:
        if not post_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for post_id in post_ids:
                pipe.hgetall(self.keys.reposts_of(post_id))
            return [_reposts(raw) for raw in await pipe.execute()]


def kept_answer(found: Sequence[Any]) -> tuple[bool, list[int]]:
    """``keep_alive``'s answer from the answers of ``queue_keep_alive``'s commands."""
    kept, _, celebrities = found
    return bool(kept), [int(c) for c in celebrities]


def opened_answer(found: Sequence[Any]) -> HomeStart:
    """``open_home``'s answer from the answers of ``queue_open_home``'s one call."""
    kept, celebrities, *rest = found[0]
    every = [int(c) for c in celebrities]
    if not kept:
        return HomeStart(False, every, [], [])
    followed, *slices = rest
    return HomeStart(True, every, [int(c) for c in followed],
                     [[_decode(m) for m in raw] for raw in slices])


_SOME_ID = 123456789
"""An account id whose key shows what surrounds an id in a key (the authored keys
``open_home``'s script builds)."""


def _lex_bounds(below: int | None) -> tuple[str, str]:
    """The ``ZRANGE ... BYLEX REV`` bounds of the items below ``below`` (``None``: all),
    above the kept-marker, so that it is never read back."""
    return (f"({member(below)}" if below is not None else "+"), f"({SENTINEL}"


def _encode(items: Sequence[TimelineItem], seen: dict[TimelineItem, Encoded]) -> list[Encoded]:
    """Items as the scripts take them; ``seen`` remembers the encodings of one call."""
    encoded: list[Encoded] = []
    for item in items:
        found = seen.get(item)
        if found is None:
            item_id, original = item
            found = seen[item] = (member(item_id, original),
                                  member(original) if original is not None else "")
        encoded.append(found)
    return encoded


def _flatten(items: Sequence[Encoded]) -> list[str]:
    return [part for item in items for part in item]


def _decode(raw: bytes | str) -> TimelineItem:
    """A member (``<item>`` or ``<item>:<original>``, each ``ID_WIDTH`` digits) as an item."""
    return int(raw[:ID_WIDTH]), int(raw[ID_WIDTH + 1:]) if len(raw) > ID_WIDTH else None


def _item_id(raw: bytes | str) -> int:
    return int(raw[:ID_WIDTH])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _reposts(raw: dict[Any, Any]) -> Reposts:
    """A ``repostsof`` hash: the post's author if known, reposter -> repost id."""
    author: int | None = None
    by_reposter: dict[int, int] = {}
    for key, value in raw.items():
        name = _text(key)
        if name == REPOSTS_AUTHOR_FIELD:
            author = int(value)
        else:
            by_reposter[int(name)] = _item_id(value)
    return Reposts(author, by_reposter)
