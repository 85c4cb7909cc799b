"""Search, accounts search and tag timelines through the whole pipeline: commands, the
event store, the projectors (the search index on noida-db's Elasticsearch), and the
queries as the API runs them."""

from __future__ import annotations

import io
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from rich.console import Console

from commands.bus import CommandBus
from commands.messages import (
    Actor,
    DeletePost,
    SetBlock,
    SetFollow,
    SetMute,
    SetSuspension,
    UpdateProfile,
)
from domain.errors import ValidationFailed
from infra.bootstrap import (
    ProjectionServices,
    build_command_bus,
    build_projections,
    build_runner,
)
from infra.database import migrate
from infra.eventlog import max_position
from infra.operations import parked, rebuild, replay_parked
from infra.settings import Settings
from ports.events import EventEnvelope
from ports.projectors import PROJECTORS, READ_MODELS, SEARCH, TRENDS
from ports.search import PostSearch
from projections.search import SearchFold
from queries.context import QueryContext
from queries.search import search_accounts, search_posts
from queries.shapes import Page
from queries.tags import tag_timeline
from tests.integration.conftest import SettingsFactory, close_bus, signup
from tests.integration.pipeline import (
    dump_redis,
    flatten,
    page_through,
    post,
    query_context,
    stored_events,
)


async def catch_up(settings: Settings, services: ProjectionServices,
                   names: tuple[str, ...] = PROJECTORS) -> None:
    async with services.pool.connection() as conn:
        head = await max_position(conn)
    for name in names:
        await build_runner(settings, services, name).catch_up(head)


def _id(reader: Actor | None) -> int | None:
    return None if reader is None else reader.account_id


class Search:
    """The queries as the routes call them, for one reader."""

    def __init__(self, ctx: QueryContext, services: ProjectionServices) -> None:
        self.ctx, self.index = ctx, services.search

    async def posts(self, q: str, reader: Actor | None = None, cursor: str | None = None,
                    limit: int = 100) -> Page[Any]:
        return await search_posts(self.ctx, self.index, q, _id(reader),
                                  cursor, limit, now_ms=int(time.time() * 1000),
                                  half_life_days=7.0)

    async def texts(self, q: str, reader: Actor | None = None) -> list[str]:
        return [item["text"] for item in (await self.posts(q, reader))["items"]]

    async def accounts(self, q: str, reader: Actor | None = None, cursor: str | None = None,
                       limit: int = 100) -> Page[Any]:
        return await search_accounts(self.ctx, self.index, q, _id(reader),
                                     cursor, limit)

    async def tag(self, tag: str, reader: Actor | None = None, cursor: str | None = None,
                  limit: int = 100) -> Page[Any]:
        return await tag_timeline(self.ctx, tag, _id(reader), cursor, limit)


@pytest.fixture
def search(services: ProjectionServices, settings: Settings) -> Search:
    return Search(query_context(services, settings), services)


async def test_each_query_form_and_their_combinations(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    post(bus, alice, "Running late for the Café meeting #Work")
    post(bus, alice, "the quick brown fox jumps #animals #work")
    post(bus, bob, "brown quick foxes everywhere #Animals")
    post(bus, bob, "a plain post about nothing")
    await catch_up(settings, services)

    assert await search.texts("cafe") == ["Running late for the Café meeting #Work"]
    assert await search.texts("run CAFÉ") == await search.texts("cafe")  # stem, case, accent
    assert set(await search.texts("quick brown")) == {
        "the quick brown fox jumps #animals #work", "brown quick foxes everywhere #Animals"}
    # the words side by side rank first (same age: the phrase feature decides)
    assert (await search.texts("quick brown"))[0].startswith("the quick brown")
    assert await search.texts('"quick brown"') == ["the quick brown fox jumps #animals #work"]
    assert await search.texts('"brown fox" "quick brown"') == await search.texts(
        '"quick brown"')
    assert set(await search.texts("#WORK")) == {
        "Running late for the Café meeting #Work", "the quick brown fox jumps #animals #work"}
    assert await search.texts("#work #animals") == ["the quick brown fox jumps #animals #work"]
    assert await search.texts("from:BOB #animals") == ["brown quick foxes everywhere #Animals"]
    assert await search.texts("fox from:@alice") == ["the quick brown fox jumps #animals #work"]
    today = datetime.now(UTC).date()
    assert len(await search.texts(f"after:{today - timedelta(days=1)}")) == 4
    assert await search.texts(f"before:{today}") == []
    assert await search.texts(f"plain before:{today + timedelta(days=1)} from:bob") == [
        "a plain post about nothing"]
    assert await search.texts(f"plain after:{today}") == []
    # every kind at once, in any order; several from: are any of them
    assert await search.texts(
        f'#animals after:{today - timedelta(days=1)} "quick brown" fox from:alice '
        f"before:{today + timedelta(days=1)}") == ["the quick brown fox jumps #animals #work"]
    assert await search.texts(f'from:bob "brown quick" after:{today - timedelta(days=1)}'
                              ) == ["brown quick foxes everywhere #Animals"]
    assert set(await search.texts("from:alice from:bob #animals")) == {
        "the quick brown fox jumps #animals #work", "brown quick foxes everywhere #Animals"}
    assert await search.texts('"brown quick" #animals from:alice') == []
    # the display name matches words too
    assert len(await search.texts("Alice")) == 2
    # what the grammar cannot read is words, and never an error
    assert await search.texts('"unclosed fox from:') == []
    assert await search.texts('nothing "about') == ["a plain post about nothing"]
    assert await search.texts("from:no-such-user") == []
    assert (await search.posts("!!!")) == {"items": [], "next_cursor": None}


async def test_five_hundred_results_page_with_no_repeat_and_no_gap(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    alice = signup(bus, "alice")
    words = ["apple", "apple pie", "green apple", "apple crumble pie", "an apple a day"]
    made = [post(bus, alice, f"{words[i % 5]} number {i} #fruit") for i in range(500)]
    await catch_up(settings, services)

    async def fetch(cursor: str | None, limit: int) -> Page[Any]:
        return await search.posts("apple pie", cursor=cursor, limit=limit)

    async def fetch_all(cursor: str | None, limit: int) -> Page[Any]:
        return await search.posts("apple", cursor=cursor, limit=limit)

    relevant = flatten(await page_through(fetch, 37))
    assert sorted(relevant) == sorted(str(p) for i, p in enumerate(made) if i % 5 in (1, 3))
    everything = await page_through(fetch_all, 23)
    assert len(flatten(everything)) == len(set(flatten(everything))) == 500
    assert sorted(flatten(everything)) == sorted(str(p) for p in made)
    assert all(len(page) == 23 for page in everything[:-1])
    one_page = (await search.posts("apple", limit=100))["items"]
    assert [p["id"] for p in one_page] == flatten(everything)[:100]  # the same order

    async def by_tag(cursor: str | None, limit: int) -> Page[Any]:
        return await search.tag("FRUIT", cursor=cursor, limit=limit)

    assert flatten(await page_through(by_tag, 41)) == [str(p) for p in reversed(made)]


async def test_deleted_posts_leave_search_even_before_the_index_sees_the_delete(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    alice = signup(bus, "alice")
    gone, kept = post(bus, alice, "ephemeral words #t"), post(bus, alice, "lasting words #t")
    await catch_up(settings, services)
    bus.handle(DeletePost(actor=alice, post_id=gone))
    await catch_up(settings, services, (READ_MODELS,))  # the index still holds it
    assert {h.id for h in await services.search.search_posts(PostSearch(tags=("t",)))} == {
        gone, kept}
    assert [p["id"] for p in (await search.posts("words"))["items"]] == [str(kept)]
    assert [p["id"] for p in (await search.tag("t"))["items"]] == [str(kept)]
    await catch_up(settings, services, (SEARCH,))
    assert [h.id for h in await services.search.search_posts(PostSearch(tags=("t",)))] == [
        kept]


async def test_out_of_order_and_repeated_events_end_in_the_same_index(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    first = post(bus, alice, "first words #x")
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    second = post(bus, alice, "second words #x")
    bus.handle(UpdateProfile(actor=alice, changes={"display_name": "Alice Renamed"}))
    bus.handle(DeletePost(actor=alice, post_id=first))
    events = await stored_events(services.pool)
    projector = services.projectors[SEARCH]
    shuffled = [*events, *events]
    random.Random(7).shuffle(shuffled)
    for event in shuffled:  # every event twice, in any order (a replay ignores positions)
        await projector.replay(event)
    for event in events:  # then the log in order, as a worker would
        await projector.apply(event)
    await catch_up(settings, services, (READ_MODELS,))
    assert [p["id"] for p in (await search.posts("words"))["items"]] == [str(second)]
    assert [h.id for h in await services.search.search_posts(PostSearch(tags=("x",)))] == [
        second]  # the delete was not undone by the creation arriving after it
    assert await services.search.position() == events[-1].position


async def test_a_profile_rename_shows_in_search(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    alice = signup(bus, "alice")
    before = post(bus, alice, "posted before the rename")
    await catch_up(settings, services)
    assert len(await search.texts("Alice")) == 1
    bus.handle(UpdateProfile(actor=alice, changes={"display_name": "Wonderland Queen"}))
    after = post(bus, alice, "posted after the rename")
    await catch_up(settings, services)
    assert {p["id"] for p in (await search.posts("wonderland queen"))["items"]} == {
        str(before), str(after)}
    assert await search.texts("Alice") == []
    found = (await search.accounts("wonder"))["items"]
    assert [(a["username"], a["display_name"]) for a in found] == [
        ("alice", "Wonderland Queen")]


async def test_blocks_and_mutes_hide_posts_in_search_and_tag_timelines(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    reader, blocked, blocker, muted, other = (signup(bus, n) for n in (
        "reader", "blocked", "blocker", "muted", "other"))
    for author in (blocked, blocker, muted, other):
        for i in range(3):
            post(bus, author, f"shared words {i} #shared")
    bus.handle(SetBlock(actor=reader, username="blocked", active=True))
    bus.handle(SetBlock(actor=blocker, username="reader", active=True))
    bus.handle(SetMute(actor=reader, username="muted", active=True))
    await catch_up(settings, services)

    def authors(found: Page[Any]) -> set[str]:
        return {p["author"]["username"] for p in found["items"]}

    assert authors(await search.posts("shared", reader)) == {"other"}
    assert authors(await search.posts("shared")) == {"blocked", "blocker", "muted", "other"}
    # hidden in the index query, so pages stay full
    first = await search.posts("shared", reader, limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert authors(await search.tag("Shared", reader)) == {"other"}
    assert {a["username"] for a in (await search.accounts("b", reader))["items"]} == set()
    assert {a["username"] for a in (await search.accounts("mu", reader))["items"]} == {"muted"}


async def test_accounts_exact_username_first_then_by_followers(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    ann, _, annabel, bob = (signup(bus, n) for n in ("ann", "anna", "annabel", "bob"))
    fans = [signup(bus, f"fan{i}") for i in range(3)]
    for fan in fans:
        bus.handle(SetFollow(actor=fan, username="annabel", active=True))
    bus.handle(SetFollow(actor=fans[0], username="anna", active=True))
    bus.handle(SetFollow(actor=bob, username="anna", active=True))
    bus.handle(SetFollow(actor=bob, username="ann", active=True))
    bus.handle(SetBlock(actor=ann, username="bob", active=True))  # ends bob's follow of ann
    await catch_up(settings, services)

    async def names(q: str, **kwargs: Any) -> list[str]:
        return [a["username"] for a in (await search.accounts(q, **kwargs))["items"]]

    assert await names("ann") == ["ann", "annabel", "anna"]
    assert await names("ANNA") == ["anna", "annabel"]
    assert await names("@annab") == ["annabel"]
    first = await search.accounts("ann", limit=2)
    assert [a["username"] for a in first["items"]] == ["ann", "annabel"]
    rest = await search.accounts("ann", cursor=first["next_cursor"], limit=2)
    assert [a["username"] for a in rest["items"]] == ["anna"] and rest["next_cursor"] is None
    stored = await services.search.accounts([ann.account_id, annabel.account_id])
    assert stored[annabel.account_id].doc.followers_count == 3
    assert stored[ann.account_id].doc.followers_count == 0  # the block ended the follow


async def test_cursors_we_did_not_issue_are_refused(search: Search) -> None:
    for cursor in ("", "x", "cDE6MTox", "cDE6MTpuYW46Mg", "YTE6LTE6MToy"):
        with pytest.raises(ValidationFailed):
            await search.posts("x", cursor=cursor)
    with pytest.raises(ValidationFailed):
        await search.accounts("x", cursor="cDE6MTowLjU6Mg")
    with pytest.raises(ValidationFailed):
        await search.tag("x", cursor="nope")


async def test_the_tag_read_model_is_filled_from_posts_when_first_made(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    """A database from before tag timelines gets ``rm_post_tags`` from ``rm_posts`` at
    its next migration (live posts only); afterwards the projector keeps it."""
    alice = signup(bus, "alice")
    kept, gone = post(bus, alice, "#Old #tags"), post(bus, alice, "#old too")
    bus.handle(DeletePost(actor=alice, post_id=gone))
    await catch_up(settings, services, (READ_MODELS,))
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute("DROP VIEW rm_post_tags")  # the read models' live copy is rm_v1
        conn.execute("DROP TABLE rm_v1.rm_post_tags")
        # such a database recorded the digest of the schema before tag timelines
        conn.execute("UPDATE schema_applied SET sha256 = 'the schema before issue 11'")
    migrate(settings)
    with psycopg.connect(settings.postgres_conninfo) as conn:
        rows = conn.execute("SELECT tag, post_id FROM rm_post_tags ORDER BY tag").fetchall()
    assert rows == [("old", kept), ("tags", kept)]
    assert [p["id"] for p in (await search.tag("OLD"))["items"]] == [str(kept)]


async def test_a_parked_post_is_indexed_by_replay_parked_once_fixed(
    settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The search projector fails on one post (a bug): it is parked and the rest is
    indexed; after the fix, ``replay-parked search_index`` indexes it."""
    quick = settings_factory(projector_max_attempts=2, projector_backoff_s=0.001)
    built = await build_projections(quick)
    command_bus = build_command_bus(quick)
    try:
        alice = signup(command_bus, "alice")
        buggy = post(command_bus, alice, "hits the bug #b")
        fine = post(command_bus, alice, "fine #b")
        real = SearchFold.apply

        def bug(fold: SearchFold, event: EventEnvelope) -> None:
            if event.payload.get("post_id") == buggy:
                raise ValueError("a bug in the search projection")
            real(fold, event)

        monkeypatch.setattr(SearchFold, "apply", bug)
        await catch_up(quick, built, (SEARCH,))
        assert [(r["projector"], r["event_type"]) for r in await parked(built)] == [
            (SEARCH, "PostCreated")]
        newest = PostSearch(tags=("b",), order="newest")
        assert [h.id for h in await built.search.search_posts(newest)] == [fine]
        monkeypatch.setattr(SearchFold, "apply", real)  # the fix
        assert await replay_parked(built, SEARCH) == (1, 0)
        assert [h.id for h in await built.search.search_posts(newest)] == [fine, buggy]
        assert await parked(built) == []
    finally:
        close_bus(command_bus)
        await built.close()


async def _index_dump(services: ProjectionServices) -> dict[str, list[tuple[Any, ...]]]:
    """Every document of both indices: (id, version, source), by id."""
    dump = {}
    for index in (services.search.names.posts_index, services.search.names.accounts_index):
        await services.search.client.indices.refresh(index=index)
        found = await services.search.client.search(index=index, size=10_000, version=True,
                                                    query={"match_all": {}})
        dump[index] = sorted((h["_id"], h["_version"], h["_source"])
                             for h in found["hits"]["hits"])
    return dump


async def test_one_event_at_a_time_and_a_rebuild_in_batches_make_the_same_index_and_counts(
    bus: CommandBus, services: ProjectionServices, settings: Settings,
) -> None:
    users = [signup(bus, f"user{i}") for i in range(6)]
    made = []
    for round_ in range(3):
        for i, user in enumerate(users):
            made.append(post(bus, user, f"round {round_} from {i} #r{round_} #all"))
            bus.handle(SetFollow(actor=user, username=users[(i + round_ + 1) % 6].username,
                                 active=True))
        bus.handle(UpdateProfile(actor=users[round_], changes={"display_name": f"N{round_}"}))
        bus.handle(DeletePost(actor=users[0], post_id=made[round_ * 6]))
    bus.handle(SetBlock(actor=users[1], username=users[2].username, active=True))
    for event in await stored_events(services.pool):  # as a worker one event at a time
        for name in (SEARCH, TRENDS):
            await services.projectors[name].apply(event)
    live = await _index_dump(services)
    counts = await dump_redis(services.redis, settings.redis_prefix, skip=("projection:",))
    assert len(live[services.search.names.posts_index]) == 18 and counts

    quiet = Console(file=io.StringIO())
    for name in (SEARCH, TRENDS):
        assert await rebuild(settings, services, name, quiet) > 0
    assert await _index_dump(services) == live
    assert await dump_redis(services.redis, settings.redis_prefix,
                            skip=("projection:",)) == counts


async def test_a_suspended_account_and_its_posts_leave_every_search_until_lifted(
    bus: CommandBus, services: ProjectionServices, settings: Settings, search: Search,
) -> None:
    """Through the commands, the event store, both projectors and the queries: while
    Alice is suspended, no query form finds her posts or her account (for a reader or
    not), and her tag timeline entries go; Bob's stay. Lifting the suspension brings all
    of it back, the post written as the suspension landed included. The events applied
    again in any order, twice, end in the same index, and a rebuild from the log makes
    the documents the live projector made."""
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    bus.handle(UpdateProfile(actor=alice, changes={"display_name": "Alice Liddell"}))
    hers = [post(bus, alice, "the quick brown fox #animals"),
            post(bus, alice, "Running to the Café #work")]
    his = post(bus, bob, "a quick brown dog #animals")
    await catch_up(settings, services)
    today = datetime.now(UTC).date()
    queries = ["quick", '"quick brown"', "#animals", "from:alice", "cafe", "liddell",
               f"after:{today - timedelta(days=1)}", f"quick from:alice before:"
               f"{today + timedelta(days=1)}"]
    before = {q: {p["id"] for p in (await search.posts(q, bob))["items"]} for q in queries}
    assert before["#animals"] == {str(hers[0]), str(his)}

    bus.handle(SetSuspension("alice", True, "cli:ops", "spam"))
    late = post(bus, alice, "quick words as the suspension landed #animals")  # a racing request
    await catch_up(settings, services)

    for q in queries:
        for reader in (None, bob):
            found = {p["id"] for p in (await search.posts(q, reader))["items"]}
            assert found == before[q] - {str(i) for i in hers}, q
    assert {h.id for h in await services.search.search_posts(
        PostSearch(order="newest", size=100))} == {his}  # the index itself, not hydration
    for text in ("ali", "alice", "liddell"):
        assert (await search.accounts(text))["items"] == []
    assert [p["id"] for p in (await search.tag("animals", bob))["items"]] == [str(his)]

    bus.handle(SetSuspension("alice", False, "cli:ops"))
    await catch_up(settings, services)
    for q in queries:
        found = {p["id"] for p in (await search.posts(q, bob))["items"]}
        assert found - {str(late)} == before[q], q
    assert str(late) in {p["id"] for p in (await search.posts("quick", bob))["items"]}
    assert [a["username"] for a in (await search.accounts("ali"))["items"]] == ["alice"]
    assert [p["id"] for p in (await search.tag("animals"))["items"]] == [
        str(late), str(his), str(hers[0])]

    live = await _index_dump(services)
    events = await stored_events(services.pool)
    shuffled = [*events, *events]
    random.Random(11).shuffle(shuffled)
    projector = services.projectors[SEARCH]
    for event in shuffled:  # every event again, twice, in any order
        await projector.replay(event)
    assert await _index_dump(services) == live
    assert await rebuild(settings, services, SEARCH, Console(file=io.StringIO())) > 0
    assert await _index_dump(services) == live
