"""Query handlers over projected read models: relationships and follow lists under
blocks and mutes, account posts, and reply threads."""

from __future__ import annotations

import pytest

from commands.bus import CommandBus
from commands.messages import Actor, DeletePost, SetBlock, SetFollow, SetMute
from domain.errors import NotFound, ValidationFailed
from infra.bootstrap import ProjectionServices
from infra.settings import Settings
from queries.accounts import follow_list, relationship
from queries.context import QueryContext
from queries.posts import account_posts, thread
from queries.shapes import Account, Page, Post
from tests.integration.conftest import signup
from tests.integration.pipeline import flatten, page_through, post, project_new, query_context


def block(bus: CommandBus, actor: Actor, other: Actor, active: bool = True) -> None:
    bus.handle(SetBlock(actor=actor, username=other.username, active=active))


def mute(bus: CommandBus, actor: Actor, other: Actor, active: bool = True) -> None:
    bus.handle(SetMute(actor=actor, username=other.username, active=active))


def follow(bus: CommandBus, actor: Actor, *others: Actor) -> None:
    for other in others:
        bus.handle(SetFollow(actor=actor, username=other.username, active=True))


NOTHING = {"following": False, "followed_by": False, "blocking": False, "blocked_by": False,
           "muting": False}


async def test_relationship_shows_follows_blocks_both_ways_and_mutes_to_the_muter_only(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    ctx = query_context(services, settings)
    alice, bob, carol = (signup(bus, n) for n in ("alice", "bob", "carol"))
    follow(bus, alice, bob)
    follow(bus, bob, alice)
    mute(bus, alice, carol)
    await project_new(services)
    assert await relationship(ctx, alice.account_id, "BOB") == {
        **NOTHING, "following": True, "followed_by": True}
    assert await relationship(ctx, alice.account_id, "carol") == {**NOTHING, "muting": True}
    assert await relationship(ctx, carol.account_id, "alice") == NOTHING  # mutes are secret

    block(bus, bob, alice)  # ends both follows
    await project_new(services)
    assert await relationship(ctx, alice.account_id, "bob") == {**NOTHING, "blocked_by": True}
    assert await relationship(ctx, bob.account_id, "alice") == {**NOTHING, "blocking": True}

    block(bus, alice, bob)  # both ways now
    block(bus, bob, alice, active=False)
    mute(bus, alice, carol, active=False)
    await project_new(services)
    assert await relationship(ctx, alice.account_id, "bob") == {**NOTHING, "blocking": True}
    assert await relationship(ctx, bob.account_id, "alice") == {**NOTHING, "blocked_by": True}
    assert await relationship(ctx, alice.account_id, "carol") == NOTHING
    with pytest.raises(NotFound):
        await relationship(ctx, alice.account_id, "nobody")


async def usernames(ctx: QueryContext, username: str, direction: str, reader: Actor | None,
                    limit: int = 2) -> list[str]:
    """Every page of the list, as usernames."""
    names: list[str] = []

    async def fetch(cursor: str | None, size: int) -> Page[Account]:
        page = await follow_list(ctx, username, direction,
                                 None if reader is None else reader.account_id, cursor, size)
        names.extend(item["username"] for item in page["items"])
        return page

    await page_through(fetch, limit)
    return names


async def test_follow_lists_page_newest_first_without_accounts_blocked_either_way(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    ctx = query_context(services, settings)
    star, f1, f2, f3, f4, outsider = (signup(bus, n) for n in (
        "star", "f1", "f2", "f3", "f4", "outsider"))
    for fan in (f1, f2, f3, f4):
        follow(bus, fan, star)
    follow(bus, star, f2, f4)
    block(bus, f1, f3)  # f1 blocks f3
    block(bus, f4, outsider)  # f4 blocks the outsider
    await project_new(services)

    everyone = ["f4", "f3", "f2", "f1"]
    for limit in (1, 2, 3, 10):
        assert await usernames(ctx, "star", "followers", None, limit) == everyone
    assert await usernames(ctx, "star", "following", None) == ["f4", "f2"]
    assert await usernames(ctx, "star", "followers", f1) == ["f4", "f2", "f1"]  # not f3
    assert await usernames(ctx, "star", "followers", f3) == ["f4", "f3", "f2"]  # not f1
    assert await usernames(ctx, "star", "followers", outsider) == ["f3", "f2", "f1"]
    assert await usernames(ctx, "star", "following", outsider) == ["f2"]
    # a reader blocked by (or blocking) the account cannot see its lists at all
    block(bus, star, outsider)
    await project_new(services)
    for direction in ("followers", "following"):
        with pytest.raises(NotFound):
            await follow_list(ctx, "star", direction, outsider.account_id, None, 10)
        with pytest.raises(NotFound):
            await follow_list(ctx, "outsider", direction, star.account_id, None, 10)
    with pytest.raises(ValidationFailed):
        await follow_list(ctx, "star", "followers", None, "not-a-cursor", 10)


async def test_account_posts_are_hidden_from_a_blocked_reader_and_page_exactly(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    ctx = query_context(services, settings)
    author, reader, blocked = (signup(bus, n) for n in ("author", "reader", "blocked"))
    ids = [post(bus, author, f"p{i}") for i in range(7)]
    bus.handle(DeletePost(actor=author, post_id=ids[3]))
    block(bus, author, blocked)
    await project_new(services)
    expected = [str(i) for i in reversed(ids) if i != ids[3]]
    for limit in (1, 4, 6, 20):
        async def fetch(cursor: str | None, size: int) -> Page[Post]:
            return await account_posts(ctx, "author", reader.account_id, cursor, size)
        assert flatten(await page_through(fetch, limit)) == expected, limit
    with pytest.raises(NotFound):
        await account_posts(ctx, "author", blocked.account_id, None, 20)
    with pytest.raises(NotFound):
        await account_posts(ctx, "blocked", author.account_id, None, 20)


def ids_of(posts: list[Post]) -> list[int]:
    return [int(p["id"]) for p in posts]


async def test_thread_ancestors_root_first_descendants_depth_first_oldest_first(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    ctx = query_context(services, settings)
    a, b, c = (signup(bus, n) for n in ("a", "b", "c"))
    root = post(bus, a, "root")
    r1 = post(bus, b, "r1", reply_to_id=root)
    r2 = post(bus, c, "r2", reply_to_id=root)
    r1a = post(bus, a, "r1a", reply_to_id=r1)
    r2a = post(bus, b, "r2a", reply_to_id=r2)
    r1b = post(bus, c, "r1b", reply_to_id=r1)
    r1a_i = post(bus, b, "r1a_i", reply_to_id=r1a)
    r3 = post(bus, a, "r3", reply_to_id=root)
    other = post(bus, a, "another thread")
    await project_new(services)

    whole = await thread(ctx, root, None)
    assert whole["ancestors"] == []
    assert ids_of(whole["descendants"]) == [r1, r1a, r1a_i, r1b, r2, r2a, r3]
    assert other not in ids_of(whole["descendants"])
    middle = await thread(ctx, r1a, None)
    assert ids_of(middle["ancestors"]) == [root, r1]
    assert ids_of(middle["descendants"]) == [r1a_i]
    leaf = await thread(ctx, r1a_i, a.account_id)
    assert ids_of(leaf["ancestors"]) == [root, r1, r1a] and leaf["descendants"] == []
    by_id = {int(p["id"]): p for p in whole["descendants"]}
    assert by_id[r1]["replies_count"] == 2 and by_id[r1]["reply_to_id"] == str(root)
    assert by_id[r1a_i]["author"]["username"] == "b"

    # a deleted reply drops out; the replies beneath it stay
    bus.handle(DeletePost(actor=b, post_id=r1))
    await project_new(services)
    assert ids_of((await thread(ctx, root, None))["descendants"]) == [
        r1a, r1a_i, r1b, r2, r2a, r3]
    assert ids_of((await thread(ctx, r1a, None))["ancestors"]) == [root]


async def test_thread_hides_authors_blocked_either_way(
    bus: CommandBus, services: ProjectionServices, settings: Settings
) -> None:
    ctx = query_context(services, settings)
    a, b, c, reader = (signup(bus, n) for n in ("a", "b", "c", "reader"))
    root = post(bus, a, "root")
    r1 = post(bus, b, "r1 by b", reply_to_id=root)
    r1a = post(bus, c, "r1a by c", reply_to_id=r1)
    r2 = post(bus, c, "r2 by c", reply_to_id=root)
    mute(bus, reader, c)  # a mute does not hide replies in threads
    await project_new(services)
    assert ids_of((await thread(ctx, root, reader.account_id))["descendants"]) == [r1, r1a, r2]

    block(bus, b, reader)  # b blocks the reader: b's replies are hidden from the reader
    await project_new(services)
    assert ids_of((await thread(ctx, root, reader.account_id))["descendants"]) == [r1a, r2]
    assert ids_of((await thread(ctx, r1a, reader.account_id))["ancestors"]) == [root]
    assert ids_of((await thread(ctx, root, None))["descendants"]) == [r1, r1a, r2]
    with pytest.raises(NotFound):  # and a thread opened at b's post is not there for them
        await thread(ctx, r1, reader.account_id)

    block(bus, reader, a)  # the reader blocks the root's author
    await project_new(services)
    with pytest.raises(NotFound):
        await thread(ctx, root, reader.account_id)
    assert ids_of((await thread(ctx, r2, reader.account_id))["ancestors"]) == []
    assert ids_of((await thread(ctx, r1a, b.account_id))["ancestors"]) == [root, r1]
