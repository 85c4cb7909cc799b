"""Blue-green rebuilds and verifies of the read models (``infra.rebuild``) on PostgreSQL,
with live writes applied and reads made while they run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from psycopg import sql

from commands.bus import CommandBus
from commands.messages import EraseAccount, SetFollow, SetLike, SetSuspension, UpdateProfile
from infra.bootstrap import ProjectionServices, build_runner
from infra.copies import CopyRegistry
from infra.eventlog import max_position
from infra.read_model_reader import PostgresReadModelReader
from infra.rebuild import rebuild, rebuild_outdated, verify
from infra.redis_keys import SENTINEL, RedisKeys
from infra.settings import Settings
from ports import projectors
from ports.projectors import READ_MODELS, SEARCH, TIMELINES
from ports.search import PostSearch
from queries.hydration import hydrate
from tests.integration.conftest import signup, wait_until
from tests.integration.pipeline import (
    dump_tables,
    keep,
    post,
    post_counts,
    project_everything,
    project_new,
    query_context,
    repost,
)


async def schemas(services: ProjectionServices) -> list[str]:
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rm\\_%' "
                                 "ORDER BY 1")
        return [row[0] for row in await cur.fetchall()]


def history(bus: CommandBus, posts: int = 40) -> list[Any]:
    actors = [signup(bus, f"bg{i}") for i in range(4)]
    for i, actor in enumerate(actors):
        bus.handle(SetFollow(actor=actor, username=actors[(i + 1) % 4].username,
                             active=True))
    for i in range(posts):
        post(bus, actors[i % 4], f"post {i} #tag{i % 3}")
    return actors


async def test_rebuild_switches_to_a_fresh_copy_while_writes_and_reads_go_on(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """Writers post and the live projector applies their events, readers read accounts,
    posts and a tag timeline, all through the rebuild: no read fails or comes back
    empty, the new copy is live (rm_v2; rm_v1 dropped), and it equals a build from
    scratch (verify finds nothing)."""
    actors = history(bus)
    await project_everything(services)
    live = build_runner(settings, services, READ_MODELS)
    reader = PostgresReadModelReader(services.pool)
    stop = asyncio.Event()
    bad: list[str] = []
    counts = {"reads": 0, "writes": 0}

    async def head() -> int:
        async with services.pool.connection() as conn:
            return await max_position(conn)

    async def write() -> None:
        while not stop.is_set():
            await asyncio.to_thread(post, bus, actors[counts["writes"] % 4],
                                    f"during {counts['writes']} #tag1")
            counts["writes"] += 1
            await live.catch_up(await head())

    async def read() -> None:
        while not stop.is_set():
            try:
                account = await reader.account_by_username("bg0")
                ids = await reader.account_post_ids(actors[0].account_id, 2**62, 5)
                tagged = await reader.tagged_post_ids("tag1", 2**62, (), 5)
                rows = await reader.posts(ids)
            except Exception as error:  # every failure is a finding
                bad.append(repr(error))
            else:
                if account is None or not ids or not tagged or len(rows) != len(ids):
                    bad.append(f"empty read: {account!r} {ids} {tagged} {len(rows)}")
            counts["reads"] += 1
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(write()), asyncio.create_task(read())]
    try:
        await wait_until(lambda: counts["writes"] >= 3, message="writes before the rebuild")
        result = await rebuild(settings, services, READ_MODELS)
        after = counts["writes"]
        await wait_until(lambda: counts["writes"] >= after + 3, timeout=30,
                         message="writes after the switch")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    await live.catch_up(await head())
    assert bad == []
    assert counts["reads"] > 10
    assert (result.copy, result.retired) == ("v2", "v1")
    assert await schemas(services) == ["rm_v2"]
    state = await CopyRegistry(services.pool).state(READ_MODELS)
    assert (state.live_copy, state.building_copy) == (2, None)
    assert await services.positions.position(READ_MODELS) == await head()
    async with services.pool.connection() as conn:  # the build's own position row is gone
        cur = await conn.execute("SELECT name FROM projection_positions WHERE name LIKE '%@%'")
        assert await cur.fetchall() == []
    assert await verify(settings, services, READ_MODELS) == []
    assert await schemas(services) == ["rm_v2"]  # the scratch copy is gone


async def test_verify_reports_a_corrupted_row_and_a_missing_row(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    actors = history(bus, posts=8)
    await project_everything(services)
    victim = actors[1].account_id
    async with services.pool.connection() as conn:
        await conn.execute("UPDATE rm_v1.rm_accounts SET display_name = 'corrupted' "
                           "WHERE id = %s", (victim,))
        cur = await conn.execute("DELETE FROM rm_v1.rm_posts WHERE id = (SELECT max(id) FROM "
                                 "rm_v1.rm_posts) RETURNING id")
        row = await cur.fetchone()
        assert row is not None
    found = await verify(settings, services, READ_MODELS)
    changed = [d for d in found if d["kind"] == "changed"]
    missing = [d for d in found if d["kind"] == "missing"]
    assert changed == [{"table": "rm_accounts", "key": {"id": victim}, "kind": "changed",
                        "columns": {"display_name": ["corrupted", "Bg1"]}}]
    assert [(d["table"], d["key"]) for d in missing] == [("rm_posts", {"id": row[0]})]
    assert len(found) == 2
    assert await schemas(services) == ["rm_v1"]


async def test_a_version_bump_rebuilds_once(settings: Settings, bus: CommandBus,
                                           services: ProjectionServices,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers starting after a bump: one rebuilds (under the lease), the other
    skips; a third start finds the live copy at the code's version and does nothing."""
    history(bus, posts=6)
    await project_everything(services)
    before = await dump_tables(services.pool)
    assert await rebuild_outdated(settings, services) == []
    monkeypatch.setitem(projectors.VERSIONS, READ_MODELS, 2)
    results = await asyncio.gather(rebuild_outdated(settings, services),
                                   rebuild_outdated(settings, services))
    rebuilt = [r for done in results for r in done]
    assert [(r.name, r.copy, r.version) for r in rebuilt] == [(READ_MODELS, "v2", 2)]
    state = await CopyRegistry(services.pool).state(READ_MODELS)
    assert (state.live_copy, state.live_version) == (2, 2)
    assert await rebuild_outdated(settings, services) == []
    assert await dump_tables(services.pool) == before


async def alias_targets(services: ProjectionServices) -> list[str]:
    names = services.search.names
    found = await services.search.client.indices.get_alias(name=names.posts)
    return sorted(found)


async def test_search_rebuild_moves_the_alias_to_a_fresh_generation_under_load(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """The search index: a new generation filled beside the live one, the aliases
    moved in one call while posts are written and searched; no search fails or comes
    back empty, the live projector writes the new generation afterwards, and a
    verify finds it identical to a fresh build."""
    actors = history(bus, posts=20)
    live = build_runner(settings, services, SEARCH)
    async with services.pool.connection() as conn:
        await live.catch_up(await max_position(conn))
    prefix = settings.elasticsearch_prefix
    assert await alias_targets(services) == [f"{prefix}roost-posts-v1"]
    stop = asyncio.Event()
    bad: list[str] = []
    counts = {"reads": 0, "writes": 0}
    client = services.search.client

    async def write() -> None:
        while not stop.is_set():
            await asyncio.to_thread(post, bus, actors[1], f"searching {counts['writes']}")
            counts["writes"] += 1
            async with services.pool.connection() as conn:
                await live.catch_up(await max_position(conn))

    async def read() -> None:
        while not stop.is_set():
            try:
                answer = await client.search(index=services.search.names.posts,
                                             query={"match": {"text": "post"}}, size=5)
                if not answer["hits"]["hits"]:
                    bad.append("empty search")
            except Exception as error:  # every failure is a finding
                bad.append(repr(error))
            counts["reads"] += 1
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(write()), asyncio.create_task(read())]
    try:
        await wait_until(lambda: counts["writes"] >= 2, message="writes before the rebuild")
        result = await rebuild(settings, services, SEARCH)
        after = counts["writes"]
        await wait_until(lambda: counts["writes"] >= after + 2, timeout=30,
                         message="writes after the switch")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    async with services.pool.connection() as conn:
        head = await max_position(conn)
    await live.catch_up(head)
    assert bad == []
    assert (result.copy, result.retired) == ("v2", "v1")
    assert await alias_targets(services) == [f"{prefix}roost-posts-v2"]
    assert not await client.indices.exists(index=f"{prefix}roost-posts-v1")
    assert await services.positions.position(SEARCH) == head
    assert (await CopyRegistry(services.pool).state(SEARCH)).live_copy == 2
    assert await verify(settings, services, SEARCH) == []


async def test_search_rebuild_before_anything_made_the_live_index(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """A search rebuild where no live generation exists yet (no worker has applied an
    event: a new deployment, ``python -m bench.catchup``): the new generation goes live
    behind the aliases with every post and stays. (The new copy's indices used to take
    the missing aliases when made, so the switch saw it as the live copy and retired
    it: the rebuilt index was deleted.)"""
    history(bus, posts=6)
    prefix = settings.elasticsearch_prefix
    client = services.search.client
    assert not await client.indices.exists_alias(name=services.search.names.posts)
    result = await rebuild(settings, services, SEARCH)
    assert (result.copy, result.retired) == ("v2", "v1")
    assert await alias_targets(services) == [f"{prefix}roost-posts-v2"]
    await client.indices.refresh(index=services.search.names.posts)
    assert (await client.count(index=services.search.names.posts))["count"] == 6
    assert (await CopyRegistry(services.pool).state(SEARCH)).live_copy == 2
    assert await verify(settings, services, SEARCH) == []


async def test_search_verify_reports_a_corrupted_document(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    actors = history(bus, posts=4)
    live = build_runner(settings, services, SEARCH)
    async with services.pool.connection() as conn:
        await live.catch_up(await max_position(conn))
    index = services.search.names.accounts_index
    doc = await services.search.client.get(index=index, id=str(actors[2].account_id))
    await services.search.client.index(
        index=index, id=str(actors[2].account_id), refresh=True, version=doc["_version"],
        version_type="external_gte", document={**doc["_source"], "display_name": "corrupted"})
    found = await verify(settings, services, SEARCH)
    assert [(d["table"], d["key"], d["kind"], d["columns"]) for d in found] == [
        ("accounts", {"_id": str(actors[2].account_id)}, "changed",
         {"display_name": ["corrupted", "Bg2"]})]


async def test_timeline_verify_finds_nothing_then_a_missing_entry(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """The home timelines: a scratch copy built with the live copy's kept readers equals
    the live copy; an entry taken out of a live home timeline is reported."""
    actors = history(bus, posts=12)
    await project_everything(services)  # so keeping finds the read models complete
    ctx = query_context(services, settings)
    await keep(ctx, actors[0], actors[1])  # as their first home reads do
    actors.append(signup(bus, "late"))
    bus.handle(SetFollow(actor=actors[4], username=actors[0].username, active=True))
    for i in range(3):
        post(bus, actors[1], f"after keeping {i}")
    await project_everything(services)
    assert await verify(settings, services, TIMELINES) == []
    keys = RedisKeys(settings.redis_prefix)
    home = keys.home(actors[0].account_id)
    entries = [m for m in await services.redis.zrange(home, 0, -1)
               if isinstance(m, bytes | str) and m not in (SENTINEL, SENTINEL.encode())]
    assert entries
    await services.redis.zrem(home, entries[-1])
    found = await verify(settings, services, TIMELINES)
    assert [(d["table"], d["key"], d["kind"]) for d in found] == [
        ("home", {"key": home.removeprefix(keys.prefix)}, "changed")]
    assert [v[0] for v in found[0]["columns"].values()] == [None]  # missing from the live copy
    assert not [k async for k in services.redis.scan_iter(match=f"{keys.prefix}copy:*")]


async def rows_as_text(services: ProjectionServices, schema: str) -> str:
    """Every row of every table of ``schema``, as text (one line a row)."""
    async with services.pool.connection() as conn:
        cur = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                 (schema,))
        tables = [str(row[0]) for row in await cur.fetchall()]
        lines: list[str] = []
        for table in tables:
            cur = await conn.execute(sql.SQL("SELECT t::text FROM {} t").format(
                sql.Identifier(schema, table)))
            lines += [str(row[0]) for row in await cur.fetchall()]
    return "\n".join(lines)


async def search_documents_text(services: ProjectionServices) -> str:
    """Every document of the live search generation (through the aliases), as text."""
    names = services.search.names
    found = ""
    for alias in (names.posts, names.accounts):
        await services.search.client.indices.refresh(index=alias)
        answer = await services.search.client.search(
            index=alias, query={"match_all": {}}, size=10_000)
        found += repr(answer["hits"]["hits"])
    return found


async def test_an_erased_account_stays_erased_in_a_rebuilt_copy(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """Erasure (issue 12) and blue-green rebuilds: the live purge on ``AccountErased``
    equals a build from the sealed events (their placeholders, then ``AccountErased``),
    for the read models, the search index and the home timelines; a rebuilt copy holds none of the
    erased account's personal data, its replies from others stay and counts agree."""
    actors = history(bus, posts=8)
    zelda = signup(bus, "zeldaerased")
    bus.handle(UpdateProfile(actor=zelda, changes={"bio": "zelda's secret bio"}))
    bus.handle(SetFollow(actor=zelda, username=actors[0].username, active=True))
    bus.handle(SetFollow(actor=actors[2], username=zelda.username, active=True))
    own = post(bus, zelda, "zelda's secret words #zeldatag")
    post(bus, zelda, f"@{actors[0].username} more secret words from zelda")
    reply = post(bus, actors[2], "a reply that stays", reply_to_id=own)
    theirs = post(bus, actors[0], "a post zelda likes and reposts")
    bus.handle(SetLike(actor=zelda, post_id=theirs, active=True))
    bus.handle(SetLike(actor=actors[3], post_id=own, active=True))
    repost(bus, zelda, theirs)
    await project_everything(services)  # so keeping finds the read models complete
    await keep(query_context(services, settings), actors[0], actors[2])  # zelda's followers
    bus.handle(EraseAccount(username=zelda.username, requested_by="operator"))
    await project_everything(services)
    secrets = ("zeldaerased", "Zeldaerased", "zelda's secret", "zeldatag", "secret words")

    def leaked(text: str) -> list[str]:
        return [s for s in secrets if s in text]

    assert leaked(await rows_as_text(services, "rm_v1")) == []
    assert await verify(settings, services, READ_MODELS) == []
    assert await verify(settings, services, SEARCH) == []
    assert await verify(settings, services, TIMELINES) == []  # (no blue-green switch yet)

    assert (await rebuild(settings, services, READ_MODELS)).copy == "v2"
    assert (await rebuild(settings, services, SEARCH)).copy == "v2"
    assert await schemas(services) == ["rm_v2"]
    assert leaked(await rows_as_text(services, "rm_v2")) == []
    assert leaked(await search_documents_text(services)) == []
    reader = PostgresReadModelReader(services.pool)
    assert await reader.account_by_username(zelda.username) is None
    counts = await post_counts(services, theirs)
    assert (counts["likes_count"], counts["reposts_count"]) == (0, 0)
    rows = {row["id"]: row for row in await reader.posts([reply, own])}
    assert (rows[reply]["deleted"], rows[reply]["reply_to_id"]) == (0, own)  # it stays
    assert (rows[own]["deleted"], rows[own]["text"], rows[own]["replies_count"]) == (1, "", 1)
    # An erasure after the switch purges the copy that is live now (rm_v2).
    bus.handle(EraseAccount(username=actors[3].username, requested_by="operator"))
    await project_new(services)
    assert await reader.account_by_username(actors[3].username) is None
    assert f"{actors[3].username}@example.com" not in await rows_as_text(services, "rm_v2")
    assert await verify(settings, services, READ_MODELS) == []
    assert await verify(settings, services, SEARCH) == []


async def test_a_suspension_and_its_lifting_verify_and_rebuild_the_same(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """The live read models and search index after a suspension (and after its lifting)
    equal copies built from the events: verify finds nothing; a rebuilt copy keeps the
    account suspended (its posts flagged in the index), and keeps it lifted after."""
    actors = history(bus, posts=4)
    mallory = signup(bus, "mallorysusp")
    spam = post(bus, mallory, "spam words #spamtag")
    bus.handle(SetFollow(actor=actors[0], username=mallory.username, active=True))
    bus.handle(SetSuspension(mallory.username, True, "cli:ops", "spam"))
    await project_everything(services)
    assert await verify(settings, services, READ_MODELS) == []
    assert await verify(settings, services, SEARCH) == []

    assert (await rebuild(settings, services, READ_MODELS)).copy == "v2"
    assert (await rebuild(settings, services, SEARCH)).copy == "v2"
    reader = PostgresReadModelReader(services.pool)
    row = await reader.account_by_username(mallory.username)
    assert row is not None and row["suspended"] is True
    assert await reader.tagged_post_ids("spamtag", 2**63 - 1, [], 10) == []
    assert [h.id for h in await services.search.search_posts(
        PostSearch(tags=("spamtag",)))] == []

    bus.handle(SetSuspension(mallory.username, False, "cli:ops"))
    await project_everything(services)
    assert await verify(settings, services, READ_MODELS) == []
    assert await verify(settings, services, SEARCH) == []
    assert await reader.tagged_post_ids("spamtag", 2**63 - 1, [], 10) == [spam]
    assert [h.id for h in await services.search.search_posts(
        PostSearch(tags=("spamtag",)))] == [spam]


async def test_a_switch_hands_the_caches_what_only_the_copy_applied(
        settings: Settings, bus: CommandBus, services: ProjectionServices) -> None:
    """Events the live projector had not applied when the copy switched in were applied
    by the copy's projector only, which writes no cache: the switch hands the post
    cache and the page facts what they changed, so a reader who cached the facts
    before sees the like, the new display name and the count right after."""
    actors = history(bus, posts=4)
    reader, author = actors[0], actors[1]
    liked = post(bus, author, "to be liked during the rebuild")
    await project_everything(services)
    ctx = query_context(services, settings)
    [before] = await hydrate(ctx, [(liked, None)], reader.account_id)
    assert (before["liked"], before["likes_count"]) == (False, 0)  # and now cached

    bus.handle(SetLike(actor=reader, post_id=liked, active=True))
    bus.handle(UpdateProfile(actor=author, changes={"display_name": "Renamed"}))
    # the live projector stays where it was: the copy applies both, then switches in
    result = await rebuild(settings, services, READ_MODELS)
    async with services.pool.connection() as conn:
        assert result.position == await max_position(conn)

    [after] = await hydrate(query_context(services, settings), [(liked, None)],
                            reader.account_id)
    assert (after["liked"], after["likes_count"]) == (True, 1)
    assert after["author"]["display_name"] == "Renamed"
