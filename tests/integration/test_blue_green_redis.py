"""Blue-green rebuilds of the projections kept in Redis (``infra.rebuild.RedisCopies``,
``infra.redis_copies``) on the real Redis and PostgreSQL, with live writes applied
and reads made while they run: the copy switched to equals a build from scratch, no
read fails or comes back empty, an abandoned build leaves no key, and a rebuild
announces nothing to clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from commands.bus import CommandBus
from commands.messages import Actor
from infra.bootstrap import ProjectionServices, build_projections, build_runner
from infra.copies import NOTIFICATION_TABLES, CopyRegistry
from infra.database import migrate
from infra.eventlog import max_position
from infra.live import RedisLivePublisher
from infra.live_trends import LiveTrendCounters
from infra.operations import projection_status
from infra.rebuild import RebuildResult, rebuild, rebuild_outdated, verify
from infra.redis_copies import copy_keys, unlink_copy
from infra.redis_keys import TIMELINE_KINDS, RedisKeys
from infra.settings import Settings
from infra.trend_counters import TREND_KINDS, is_answer
from ports import projectors
from ports.projectors import NOTIFICATIONS, READ_MODELS, TIMELINES, TRENDS
from projections.runner import ProjectionRunner
from queries.context import QueryContext
from queries.notifications import notifications_page, unread_count
from queries.timelines import home_timeline
from queries.trends import trending_tags
from tests.integration.conftest import wait_until
from tests.integration.pipeline import keep, post, project_everything, query_context, repost
from tests.integration.test_blue_green import history


def quick(settings: Settings) -> Settings:
    """``settings`` with a short grace before the old copy goes (tests wait for it)."""
    return settings.model_copy(update={"rebuild_retire_grace_s": 0.2})


async def head(services: ProjectionServices) -> int:
    async with services.pool.connection() as conn:
        return await max_position(conn)


async def keys_of(services: ProjectionServices, pattern: str) -> list[str]:
    return sorted([k.decode() async for k in services.redis.scan_iter(match=pattern, count=1000)])


async def base_timeline_keys(services: ProjectionServices, keys: RedisKeys) -> list[str]:
    """The keys of copy ``v1`` of the timelines (under the prefix itself)."""
    found = []
    for key in await keys_of(services, f"{keys.prefix}*"):
        kind = key.removeprefix(keys.prefix).split(":", 1)[0]
        if kind in TIMELINE_KINDS or key == keys.projection_position(TIMELINES):
            found.append(key)
    return found


async def abandoned(settings: Settings, services: ProjectionServices, name: str) -> None:
    """Rebuild ``name`` and make it fail once the first chunk is in the copy (as a
    Ctrl-C of the operator's command would); no copy key is left."""
    calls: list[int] = []

    def failing(phase: str, position: int, target: int, rate: float) -> None:
        calls.append(position)
        if len(calls) == 2:  # after the first chunk was applied to the copy
            raise RuntimeError("the operator pressed Ctrl-C")

    with pytest.raises(RuntimeError, match="Ctrl-C"):
        await rebuild(quick(settings), services, name, failing)
    assert calls[-1] > 0  # keys were written to the copy before it failed
    prefix = RedisKeys(settings.redis_prefix).prefix
    assert await keys_of(services, f"{prefix}copy:*") == []
    assert (await CopyRegistry(services.pool).state(name)).building_copy is None


class Load:
    """Writers that post and apply the live projectors, readers that read every
    actor's home timeline, until ``stop``; every failed or empty read is in ``bad``."""

    def __init__(self, services: ProjectionServices, bus: CommandBus, actors: list[Actor],
                 live: list[ProjectionRunner], read: Callable[[Actor], Any],
                 text: Callable[[int], str] = lambda n: f"during {n} #tag1") -> None:
        self.services, self.bus, self.actors, self.live, self.read = (services, bus, actors,
                                                                      live, read)
        self.text = text
        self.stop = asyncio.Event()
        self.bad: list[str] = []
        self.reads = self.writes = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def _write(self) -> None:
        while not self.stop.is_set():
            author = self.actors[self.writes % len(self.actors)]
            await asyncio.to_thread(post, self.bus, author, self.text(self.writes))
            self.writes += 1
            at = await head(self.services)
            for runner in self.live:
                await runner.catch_up(at)

    async def _read(self) -> None:
        while not self.stop.is_set():
            for actor in self.actors:
                try:
                    if not await self.read(actor):
                        self.bad.append(f"empty read for {actor.username}")
                except Exception as error:  # every failure is a finding
                    self.bad.append(repr(error))
                self.reads += 1
            await asyncio.sleep(0)

    async def rebuild(self, settings: Settings, name: str) -> RebuildResult:
        """Rebuild ``name`` while the load runs (writes before and after the switch);
        no read failed or came back empty; the new copy is v2 and the pointer names it."""
        self.tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._read())]
        try:
            await self._writes_past(3)
            result = await rebuild(quick(settings), self.services, name)
            await self._writes_past(3)
        finally:
            await self.finish()
        assert self.bad == []
        assert self.reads > 10
        assert (result.copy, result.retired) == ("v2", "v1")
        keys = RedisKeys(settings.redis_prefix)
        assert await self.services.redis.get(keys.live_copy(name)) == b"v2"
        return result

    async def _writes_past(self, count: int) -> None:
        target = self.writes + count
        await wait_until(lambda: self.writes >= target, timeout=30, message="writes")

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        at = await head(self.services)
        for runner in self.live:
            await runner.catch_up(at)


async def test_timeline_rebuild_switches_to_a_fresh_namespace_while_writes_and_reads_go_on(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """Writers post and the live projectors apply their events, readers read their home
    timelines, all through the rebuild: no read fails or is empty; the new namespace
    is live (the pointer names v2, copy v1's keys are gone), keeps the same readers,
    gets the writes made after the switch, and equals a build from scratch."""
    actors = history(bus)
    await project_everything(services)
    ctx = query_context(services, settings)
    await keep(ctx, *actors)
    keys = RedisKeys(settings.redis_prefix)

    async def read_home(actor: Actor) -> bool:
        page = await home_timeline(ctx, actor.account_id, None, 5)
        return bool(page["items"])

    load = Load(services, bus, actors, [build_runner(settings, services, READ_MODELS),
                                        build_runner(settings, services, TIMELINES)],
                read_home)
    await load.rebuild(settings, TIMELINES)
    assert await base_timeline_keys(services, keys) == []
    v2 = copy_keys(keys, TIMELINES, "v2")
    assert [await services.redis.exists(v2.home(a.account_id)) for a in actors] == [1] * 4
    state = await CopyRegistry(services.pool).state(TIMELINES)
    assert (state.live_copy, state.building_copy) == (2, None)
    assert await services.positions.position(TIMELINES) == await head(services)
    # actors[3] follows actors[0]: a post after the switch is in its home timeline
    latest = post(bus, actors[0], "after the switch")
    await load.finish()
    page = await home_timeline(ctx, actors[3].account_id, None, 1)
    assert [item["id"] for item in page["items"]] == [str(latest)]
    assert await verify(settings, services, TIMELINES) == []
    assert await keys_of(services, f"{keys.prefix}copy:*") == \
        await keys_of(services, f"{v2.prefix}*")  # the scratch copy is gone


async def kept_history(settings: Settings, bus: CommandBus, services: ProjectionServices
                       ) -> tuple[QueryContext, int]:
    """A small history projected, every actor's timeline kept: the query context and
    one reader."""
    actors = history(bus, posts=8)
    await project_everything(services)
    ctx = query_context(services, settings)
    await keep(ctx, *actors)
    return ctx, actors[0].account_id


async def test_a_read_pinned_to_the_old_copy_finishes_on_it(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """A home read that began before the switch reads the copy it began on to its
    end (both its calls), and the next read finds the new copy."""
    ctx, reader = await kept_history(settings, bus, services)
    pinned = ctx.timelines.pinned()
    kept, celebrities = await pinned.keep_alive(reader, 60)  # the first call pins v1
    keys = RedisKeys(settings.redis_prefix)
    v2 = copy_keys(keys, TIMELINES, "v2")
    await services.redis.set(keys.live_copy(TIMELINES), "v2")  # a switch, to an empty v2
    [before] = await pinned.slices(reader, celebrities, None, 5)
    assert kept and before  # read from v1, to the end
    assert not await ctx.timelines.is_kept(reader)  # a new read: v2, where it is not kept
    await home_timeline(ctx, reader, None, 5)  # which keeps and rebuilds it there
    assert await services.redis.exists(v2.home(reader))


async def test_a_home_read_opened_on_the_old_copy_finishes_on_it(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """``open_home`` (the pointer, keep-alive, celebrities and slices in one round trip)
    pins the copy it found: after a switch the read's later calls still read it; a
    read opened after the switch finds the new copy, and one whose process still
    believed the old copy live is sent again to the new one."""
    ctx, reader = await kept_history(settings, bus, services)
    pinned = ctx.timelines.pinned()
    start = await pinned.open_home(reader, 60, None, 5)  # the first call pins v1
    keys = RedisKeys(settings.redis_prefix)
    v2 = copy_keys(keys, TIMELINES, "v2")
    await services.redis.set(keys.live_copy(TIMELINES), "v2")  # a switch, to an empty v2
    [again] = await pinned.slices(reader, list(start.followed), None, 5)
    assert start.kept and start.slices[0] and list(start.slices[0]) == again  # still v1
    fresh = await ctx.timelines.pinned().open_home(reader, 60, None, 5)
    assert not fresh.kept and list(fresh.slices) == []  # v2, where it is not kept
    assert not await services.redis.exists(v2.home(reader))  # opening created nothing
    page = await home_timeline(ctx, reader, None, 5)  # which keeps and rebuilds it there
    assert page["items"] and await services.redis.exists(v2.home(reader))
    reopened = await ctx.timelines.pinned().open_home(reader, 60, None, 5)
    assert reopened.kept and reopened.slices[0]  # kept in v2 now, read there


async def test_a_timeline_version_bump_rebuilds_it_once(
        settings: Settings, bus: CommandBus, services: ProjectionServices,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers start after the timelines' version was bumped: one rebuilds them
    blue-green, the other skips; ``status`` shows the new copy at the new version."""
    actors = history(bus, posts=6)
    await project_everything(services)
    await keep(query_context(services, settings), *actors)
    bumped = projectors.VERSIONS[TIMELINES] + 1
    monkeypatch.setitem(projectors.VERSIONS, TIMELINES, bumped)
    assert [row["state"] for row in await projection_status(services)
            if row["name"] == TIMELINES] == ["version bump pending"]
    results = await asyncio.gather(rebuild_outdated(quick(settings), services),
                                   rebuild_outdated(quick(settings), services))
    rebuilt = [r for done in results for r in done]
    assert [(r.name, r.copy, r.version) for r in rebuilt] == [(TIMELINES, "v2", bumped)]
    assert await rebuild_outdated(quick(settings), services) == []
    [row] = [row for row in await projection_status(services) if row["name"] == TIMELINES]
    assert (row["live"], row["state"]) == (f"v2@{bumped}", "live")
    assert await verify(settings, services, TIMELINES) == []


async def test_an_abandoned_timeline_rebuild_leaves_no_key(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """A rebuild that fails while filling drops its copy at once; one that died (a
    crash) is dropped by the next rebuild, as is a retired copy it left; the live copy
    serves throughout."""
    actors = history(bus, posts=10)
    await project_everything(services)
    ctx = query_context(services, settings)
    await keep(ctx, *actors)
    keys = RedisKeys(settings.redis_prefix)
    await abandoned(settings, services, TIMELINES)
    assert await services.redis.get(keys.live_copy(TIMELINES)) is None
    # A crash: copy v2 half built (the registry says so), and a retired v9 left behind.
    registry = CopyRegistry(services.pool)
    await registry.begin(TIMELINES, 1)
    for label in ("v2", "v9"):
        await services.redis.set(copy_keys(keys, TIMELINES, label).home(1), "left")
    result = await rebuild(quick(settings), services, TIMELINES)
    assert (result.copy, result.retired) == ("v3", "v1")
    v3 = copy_keys(keys, TIMELINES, "v3")
    assert await keys_of(services, f"{keys.prefix}copy:*") == \
        await keys_of(services, f"{v3.prefix}*")
    assert (await home_timeline(ctx, actors[0].account_id, None, 5))["items"]


async def test_trends_rebuild_switches_to_a_fresh_namespace_while_writes_and_reads_go_on(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """The trend counters: posts with hashtags are written and counted, trending tags
    read (as the API does, through ``LiveTrendCounters``) all through the rebuild: no
    read fails or is empty; the pointer names v2, copy v1's counters are gone, the
    answers stored before the switch are forgotten, and v2 equals a fresh build."""
    actors = history(bus)
    await project_everything(services)
    keys = RedisKeys(settings.redis_prefix)
    api = LiveTrendCounters(services.redis, keys)  # an API process's
    await api.cached("1h:1:20", 60.0, lambda: trending_tags(api, "1h", int(time.time()), 1))
    assert await keys_of(services, f"{keys.prefix}trend:cache:*")

    async def read_trends(actor: Actor) -> bool:
        return bool(await trending_tags(api, "1h", int(time.time()), min_authors=1))

    load = Load(services, bus, actors, [build_runner(settings, services, TRENDS)], read_trends)
    await load.rebuild(settings, TRENDS)
    assert await keys_of(services, f"{keys.prefix}trend:*") == []  # counters and answers
    assert await services.redis.get(keys.projection_position(TRENDS)) is None
    assert await services.positions.position(TRENDS) == await head(services)
    assert await api.position() == await head(services)
    assert (await CopyRegistry(services.pool).state(TRENDS)).live_copy == 2
    counted = {row["tag"]: row["posts_count"]
               for row in await trending_tags(api, "1h", int(time.time()), min_authors=1)}
    assert counted["tag1"] >= 13 + 6  # 13 in the history, then every write
    assert await verify(settings, services, TRENDS) == []
    v2 = copy_keys(keys, TRENDS, "v2")
    assert await keys_of(services, f"{keys.prefix}copy:*") == \
        await keys_of(services, f"{v2.prefix}*")


async def ntf_schemas(services: ProjectionServices) -> list[str]:
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE "
                                 "'ntf\\_%' ORDER BY 1")
        return [row[0] for row in await cur.fetchall()]


async def test_notification_rebuild_switches_schema_and_hot_hashes_under_load(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """The notification groups: posts that mention readers are written and projected,
    readers read their notifications page and unread count (the hot hashes and the
    views) all through the rebuild: no read fails or is empty; ``ntf_v2`` and its hot
    hashes are live (``ntf_v1`` and copy v1's hashes gone), the writes after the
    switch reach it, and it equals a fresh build."""
    actors = history(bus)
    await project_everything(services)
    ctx = query_context(services, settings)
    keys = RedisKeys(settings.redis_prefix)

    async def read_notifications(actor: Actor) -> bool:
        page = await notifications_page(ctx, actor.account_id, None, None, 5)
        await unread_count(ctx, actor.account_id)
        return bool(page["items"])

    def mention(n: int) -> str:
        return f"during {n} @{actors[(n + 1) % 4].username}"

    load = Load(services, bus, actors, [build_runner(settings, services, READ_MODELS),
                                        build_runner(settings, services, NOTIFICATIONS)],
                read_notifications, mention)
    await load.rebuild(settings, NOTIFICATIONS)
    assert await ntf_schemas(services) == ["ntf_v2"]
    assert await keys_of(services, f"{keys.prefix}notif:*") == []
    v2 = copy_keys(keys, NOTIFICATIONS, "v2")
    assert len(await keys_of(services, f"{v2.prefix}notif:*")) == 4
    assert (await CopyRegistry(services.pool).state(NOTIFICATIONS)).live_copy == 2
    assert await services.positions.position(NOTIFICATIONS) == await head(services)
    latest = post(bus, actors[0], f"after the switch @{actors[2].username}")
    await load.finish()
    page = await notifications_page(ctx, actors[2].account_id, None, None, 1)
    [group] = page["items"]
    shown = group.get("post")
    assert group["type"] == "mention" and shown is not None and shown["id"] == str(latest)
    assert await verify(settings, services, NOTIFICATIONS) == []
    assert await ntf_schemas(services) == ["ntf_v2"]  # the scratch copy is gone
    assert await keys_of(services, f"{keys.prefix}copy:*") == \
        await keys_of(services, f"{v2.prefix}*")


@pytest.mark.parametrize("name", [TRENDS, NOTIFICATIONS])
async def test_an_abandoned_rebuild_leaves_no_copy(
        settings: Settings, bus: CommandBus, services: ProjectionServices, name: str) -> None:
    """Trends and notification groups: a build that fails leaves no key, no schema
    (``ntf_v2``) and the pointer alone; the live copy serves on, intact."""
    history(bus, posts=10)
    await project_everything(services)
    await abandoned(settings, services, name)
    assert await ntf_schemas(services) == ["ntf_v1"]
    keys = RedisKeys(settings.redis_prefix)
    assert await services.redis.get(keys.live_copy(name)) is None
    assert await verify(settings, services, name) == []


def test_migrate_moves_notification_tables_from_before_copies_into_ntf_v1(
        settings: Settings) -> None:
    """A database from before the notification groups had copies (their tables in
    ``public``): ``migrate`` moves them, rows and all, into ``ntf_v1`` behind views."""
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        for table in NOTIFICATION_TABLES:  # back to how such a database looked
            conn.execute(f"DROP VIEW public.{table}")
            conn.execute(f"ALTER TABLE ntf_v1.{table} SET SCHEMA public")
        conn.execute("DROP SCHEMA ntf_v1")
        conn.execute("INSERT INTO ntf_accounts (id, username_lower) VALUES (7, 'old')")
        conn.execute("DELETE FROM schema_applied")
    migrate(settings)
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT id FROM ntf_v1.ntf_accounts").fetchall() == [(7,)]
        assert conn.execute("SELECT username_lower FROM ntf_accounts").fetchall() == [("old",)]
        kinds = conn.execute("SELECT relkind FROM pg_class c JOIN pg_namespace n ON "
                             "n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
                             "c.relname = 'ntf_groups'").fetchall()
        assert kinds == [("v",)]


async def test_a_rebuild_announces_nothing(
        settings: Settings, bus: CommandBus, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live projectors announce the history to connected readers; rebuilding the
    timelines, the notification groups or the trends announces none of it again (a
    copy's projector has no publisher)."""
    live = await build_projections(settings, live=True)
    try:
        actors = history(bus, posts=6)
        repost(bus, actors[2], post(bus, actors[1], "reposted"))
        ctx = query_context(live, settings)
        await keep(ctx, *actors)
        published: list[Any] = []
        original = RedisLivePublisher.publish

        async def recording(self: RedisLivePublisher, events: Any) -> None:
            published.extend(events)
            await original(self, events)

        monkeypatch.setattr(RedisLivePublisher, "publish", recording)
        for name in (READ_MODELS, TIMELINES, NOTIFICATIONS):
            await build_runner(settings, live, name).catch_up(await head(live))
        assert published  # the live projectors do announce
        announced = len(published)
        for name in (TIMELINES, NOTIFICATIONS, TRENDS):
            await rebuild(quick(settings), live, name)
        assert len(published) == announced
    finally:
        await live.close()


async def test_retiring_trends_copy_v1_keeps_the_answers_every_copy_shares(
        settings: Settings, redis_client: Any) -> None:
    """Copy v1's counters share the prefix with the stored answers and their locks,
    which the live copy uses after the switch: retiring v1 unlinks only the former."""
    keys = RedisKeys(settings.redis_prefix)
    counters = [f"{keys.prefix}trend:{{trends}}:f:1:roost", f"{keys.prefix}trend:{{trends}}:ha:2"]
    answers = [f"{keys.prefix}trend:cache:1h:1:20", f"{keys.prefix}trend:cache-lock:1h:1:20"]
    for key in [*counters, *answers]:
        await redis_client.set(key, "1")
    await unlink_copy(redis_client, keys, TRENDS, "v1", TREND_KINDS, shared=is_answer)
    assert [await redis_client.exists(key) for key in counters] == [0, 0]
    assert [await redis_client.exists(key) for key in answers] == [1, 1]
    await redis_client.unlink(*answers)
