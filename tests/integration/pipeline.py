"""Helpers for tests that drive the projectors with real stored events.

Commands go through the real command bus; envelopes are read back from the
event store with ``infra.eventlog.read_envelopes`` and handed to the
projectors that ``infra.bootstrap.build_projections`` builds, in order, so
each test sees exactly what the Faust agents or a rebuild would. Queries get a
``QueryContext`` built the way the HTTP app builds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from redis.asyncio import Redis

from commands.bus import CommandBus
from commands.messages import Actor, CreatePost, SetRepost
from domain.ids import repost_uuid
from infra.bootstrap import ProjectionServices, build_queries
from infra.database import AsyncPool
from infra.eventlog import read_envelopes
from infra.redis_keys import SENTINEL, RedisKeys, parse_member, post_id_of
from infra.settings import Settings
from ports.events import EventEnvelope
from ports.post_cache import COUNT_FIELDS
from projections.read_models import ReadModelProjector
from projections.timelines import TimelineProjector
from queries.context import QueryContext
from queries.shapes import Page
from queries.timelines import keep_timeline


def read_models(services: ProjectionServices) -> ReadModelProjector:
    projector = services.projectors["read_models"]
    assert isinstance(projector, ReadModelProjector)
    return projector


def timelines(services: ProjectionServices) -> TimelineProjector:
    projector = services.projectors["timelines"]
    assert isinstance(projector, TimelineProjector)
    return projector


async def stored_events(pool: AsyncPool, after: int = 0) -> list[EventEnvelope]:
    """Every stored event after ``after``, oldest first, read page by page."""
    events: list[EventEnvelope] = []
    async with pool.connection() as conn:
        while True:
            batch = await read_envelopes(conn, events[-1].position if events else after,
                                         limit=200)
            if not batch:
                return events
            events.extend(batch)


async def apply_all(services: ProjectionServices, events: Sequence[EventEnvelope],
                    times: int = 1) -> None:
    """Hand each event to every projector, ``times`` times in a row."""
    for event in events:
        for _ in range(times):
            for projector in services.projectors.values():
                await projector.apply(event)


async def project_everything(services: ProjectionServices) -> list[EventEnvelope]:
    """Apply the whole log (already applied events are ignored as redeliveries)."""
    events = await stored_events(services.pool)
    await apply_all(services, events)
    return events


async def project_new(services: ProjectionServices) -> list[EventEnvelope]:
    """Apply what the projectors have not seen yet; the events applied."""
    after = min([await p.position() for p in services.projectors.values()])
    events = await stored_events(services.pool, after)
    await apply_all(services, events)
    return events


def query_context(services: ProjectionServices, settings: Settings) -> QueryContext:
    """The query side as the HTTP app builds it (``infra.bootstrap.build_queries``),
    sharing the projectors' connections."""
    ctx = build_queries(settings, services.pool, services.redis, RedisKeys(settings.redis_prefix))
    # Tests drive the projectors by hand, often after a reader is kept: a rebuild
    # should not wait for them.
    return replace(ctx, policy=replace(ctx.policy, rebuild_wait_s=0.05))


async def keep(ctx: QueryContext, *readers: Actor) -> None:
    """Make the readers' timelines kept, as their first read of the home timeline does."""
    for reader in readers:
        await keep_timeline(ctx, reader.account_id)


async def is_kept(redis: Redis, keys: RedisKeys, account_id: int) -> bool:
    return bool(await redis.exists(keys.home(account_id)))


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def home_members(redis: Redis, keys: RedisKeys, account_id: int) -> list[str]:
    """The timeline's members, oldest first, without the kept-marker."""
    raw = await redis.zrange(keys.home(account_id), 0, -1)
    return [m for m in map(_text, raw) if m != SENTINEL]


async def home_items(redis: Redis, keys: RedisKeys, account_id: int
                     ) -> list[tuple[int, int | None]]:
    """``(item id, original id or None)`` of the timeline, oldest first."""
    return [parse_member(m) for m in await home_members(redis, keys, account_id)]


async def home_ids(redis: Redis, keys: RedisKeys, account_id: int) -> list[int]:
    """Item ids of the timeline (posts and reposts), oldest first."""
    return [post_id_of(m) for m in await home_members(redis, keys, account_id)]


async def home_index(redis: Redis, keys: RedisKeys, account_id: int) -> dict[str, str]:
    raw = await redis.hgetall(keys.home_index(account_id))
    return {_text(k): _text(v) for k, v in raw.items()}


async def zset_members(redis: Redis, key: str) -> list[str]:
    return [_text(m) for m in await redis.zrange(key, 0, -1)]


async def zset_ids(redis: Redis, key: str) -> list[int]:
    """Item ids of a timeline-like sorted set, in lexical (= id) order, no kept-marker."""
    return [post_id_of(m) for m in await zset_members(redis, key) if m != SENTINEL]


def post(bus: CommandBus, actor: Actor, text: str, reply_to_id: int | None = None) -> int:
    return int(bus.handle(CreatePost(actor=actor, text=text, reply_to_id=reply_to_id)
                          ).data["id"])


def repost(bus: CommandBus, actor: Actor, post_id: int) -> int:
    """Repost ``post_id``; the repost's own item id, read from the stored event."""
    bus.handle(SetRepost(actor=actor, post_id=post_id, active=True))
    edge: Any = bus.context.store.get_or_none(repost_uuid(actor.account_id, post_id))
    assert edge is not None and edge.active
    return int(edge.repost_id)


def unrepost(bus: CommandBus, actor: Actor, post_id: int) -> None:
    bus.handle(SetRepost(actor=actor, post_id=post_id, active=False))


Fetch = Callable[[str | None, int], Awaitable[Page[Any]]]


async def page_through(fetch: Fetch, limit: int, max_pages: int = 10_000) -> list[list[str]]:
    """Every page of a paged query: ``fetch(cursor, limit)`` -> ``{items, next_cursor}``."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await fetch(cursor, limit)
        items = page["items"]
        assert len(items) <= limit
        pages.append([str(item["id"]) for item in items])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        # a page may be empty and still have a cursor (every candidate it examined was
        # hidden); the paging must end all the same
        assert len(pages) < max_pages, "paging does not end"


def flatten(pages: Iterable[list[str]]) -> list[str]:
    return [item for page in pages for item in page]


TABLE_DUMPS = {
    "rm_accounts": "SELECT * FROM rm_accounts ORDER BY id",
    "rm_follows": "SELECT * FROM rm_follows ORDER BY follower_id, followee_id",
    "rm_posts": "SELECT * FROM rm_posts ORDER BY id",
    "rm_likes": "SELECT * FROM rm_likes ORDER BY account_id, post_id",
    "rm_reposts": "SELECT * FROM rm_reposts ORDER BY account_id, post_id",
    "rm_blocks": "SELECT * FROM rm_blocks ORDER BY blocker_id, blocked_id",
    "rm_mutes": "SELECT * FROM rm_mutes ORDER BY muter_id, muted_id",
    "rm_post_tags": "SELECT * FROM rm_post_tags ORDER BY tag, post_id",
    "positions": "SELECT name, position FROM projection_positions ORDER BY name",
}


async def post_counts(services: ProjectionServices, post_id: int) -> dict[str, int]:
    """A post's counts (and deleted flag) as the read models hold them."""
    async with services.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT likes_count, replies_count, reposts_count, (deleted_at IS NOT NULL)::int "
            "FROM rm_posts WHERE id = %s", (post_id,))
        row = await cur.fetchone()
    assert row is not None
    return dict(zip(COUNT_FIELDS, row, strict=True))


async def cached_counts(services: ProjectionServices, keys: RedisKeys, post_id: int
                        ) -> dict[str, int]:
    """A post's counts as the post cache holds them."""
    raw: dict[Any, Any] = await services.redis.hgetall(keys.post_counts(post_id))
    return {k.decode(): int(v) for k, v in raw.items()}


async def dump_tables(pool: AsyncPool) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, in a stable order."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    async with pool.connection() as conn:
        for name, query in TABLE_DUMPS.items():
            cur = await conn.execute(query)
            dump[name] = list(await cur.fetchall())
    return dump


async def dump_redis(client: Redis, prefix: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every key under ``prefix`` (except those starting with ``prefix + s`` for ``s``
    in ``skip``) with its full contents."""
    dump: dict[str, Any] = {}
    async for raw_key in client.scan_iter(match=f"{prefix}*", count=1000):
        key = _text(raw_key)
        if any(key.startswith(prefix + kind) for kind in skip):
            continue
        kind = _text(await client.type(key))
        if kind == "zset":
            dump[key] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            dump[key] = sorted(await client.smembers(key))
        elif kind == "string":
            dump[key] = await client.get(key)
        elif kind == "hash":
            dump[key] = sorted((await client.hgetall(key)).items())
        else:
            dump[key] = (kind, "unexpected")
    return dump
