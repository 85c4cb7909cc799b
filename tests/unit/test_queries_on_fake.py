"""The query side's reading logic on the in-memory read models (no server): visibility
across blocks and mutes, paging, shaping, and what each page costs the read models."""

from __future__ import annotations

import pytest

from domain.errors import NotFound
from queries.accounts import follow_list, get_account, relationship
from queries.context import QueryContext
from queries.hydration import hydrate
from queries.posts import account_posts, get_post, thread
from queries.shapes import Account
from queries.tags import tag_timeline
from tests.fakes.post_cache import FakePostCache
from tests.fakes.read_model_reader import (
    FakeReadModelReader,
    ReadModelTables,
    StoredAccount,
    StoredEdge,
    StoredPost,
    StoredRepost,
)
from tests.fakes.timelines import FakeTimelineStore

READER, AUTHOR, REPOSTER, BLOCKER, MUTED = 1, 2, 3, 4, 5


class NoLog:
    async def head(self) -> int:
        return 0


def context() -> tuple[QueryContext, FakeReadModelReader]:
    read_models = FakeReadModelReader(ReadModelTables(
        accounts=[StoredAccount(i, name, display_name=name.title()) for i, name in
                  ((READER, "reader"), (AUTHOR, "author"), (REPOSTER, "reposter"),
                   (BLOCKER, "blocker"), (MUTED, "muted"))],
        posts=[StoredPost(10, AUTHOR, "first", likes_count=1),
               StoredPost(11, AUTHOR, "reply", reply_to_id=10),
               StoredPost(12, AUTHOR, "gone", reply_to_id=10, deleted=True),
               StoredPost(13, AUTHOR, "under the gone one", reply_to_id=12),
               StoredPost(14, BLOCKER, "by the blocker", reply_to_id=10),
               StoredPost(15, MUTED, "by the muted")],
        follows=[StoredEdge(READER, AUTHOR, position=1), StoredEdge(BLOCKER, AUTHOR, position=2),
                 StoredEdge(MUTED, AUTHOR, position=3), StoredEdge(REPOSTER, AUTHOR, position=4)],
        likes=[StoredEdge(READER, 10)],
        reposts=[StoredRepost(REPOSTER, 10, 100), StoredRepost(MUTED, 11, 101)],
        blocks=[StoredEdge(BLOCKER, READER)],
        mutes=[StoredEdge(READER, MUTED)],
    ))
    return QueryContext(read_models, FakeTimelineStore(), NoLog(),
                        post_cache=FakePostCache()), read_models


def names(accounts: list[Account]) -> list[str]:
    return [account["username"] for account in accounts]


async def test_follow_lists_page_and_leave_out_accounts_in_a_block() -> None:
    ctx, _ = context()
    first = await follow_list(ctx, "author", "followers", READER, None, 2)
    assert names(first["items"]) == ["reposter", "muted"]  # not the blocker
    rest = await follow_list(ctx, "author", "followers", READER, first["next_cursor"], 2)
    assert (names(rest["items"]), rest["next_cursor"]) == (["reader"], None)
    anonymous = await follow_list(ctx, "AUTHOR", "followers", None, None, 10)
    assert names(anonymous["items"]) == ["reposter", "muted", "blocker", "reader"]
    with pytest.raises(NotFound):
        await follow_list(ctx, "blocker", "following", READER, None, 10)
    assert (await get_account(ctx, "blocker"))["display_name"] == "Blocker"  # still shown


async def test_relationships_show_a_mute_to_the_muter_only() -> None:
    ctx, _ = context()
    assert await relationship(ctx, READER, "muted") == {
        "following": False, "followed_by": False, "blocking": False, "blocked_by": False,
        "muting": True}
    assert (await relationship(ctx, MUTED, "reader"))["muting"] is False
    assert (await relationship(ctx, READER, "blocker"))["blocked_by"] is True


async def test_posts_are_shaped_with_the_readers_facts() -> None:
    ctx, _ = context()
    post = await get_post(ctx, 10, READER)
    assert (post["text"], post["author"]["username"], post["liked"], post["likes_count"]) == (
        "first", "author", True, 1)
    reply = await get_post(ctx, 11, None)
    assert (reply["reply_to_id"], reply["reply_to_available"], reply["liked"]) == (
        "10", True, False)
    for hidden in (12, 14):  # deleted; by an account that blocks the reader
        with pytest.raises(NotFound):
            await get_post(ctx, hidden, READER)
    assert (await get_post(ctx, 14, None))["text"] == "by the blocker"


async def test_mutes_hide_only_where_asked_and_reposts_by_the_muted_too() -> None:
    ctx, _ = context()
    items = [(15, None), (101, 11), (100, 10)]
    assert [p["id"] for p in await hydrate(ctx, items, READER)] == ["15", "101", "100"]
    shown = await hydrate(ctx, items, READER, hide_muted=True)
    assert [(p["id"], p["author"]["username"]) for p in shown] == [("100", "reposter")]
    repost_of = shown[0]["repost_of"]
    assert repost_of is not None and repost_of["id"] == "10" and repost_of["liked"]


async def test_a_thread_leaves_out_hidden_posts_but_not_the_replies_beneath() -> None:
    ctx, _ = context()
    around = await thread(ctx, 10, READER)
    assert [p["id"] for p in around["descendants"]] == ["11", "13"]
    assert [p["id"] for p in (await thread(ctx, 13, None))["ancestors"]] == ["10"]


async def test_a_page_costs_one_lookup_of_bodies_and_one_of_reader_facts() -> None:
    ctx, read_models = context()
    page = await account_posts(ctx, "author", READER, None, 10)
    assert [p["id"] for p in page["items"]] == ["13", "11", "10"]
    assert read_models.calls == ["account_by_username", "hidden_accounts", "account_post_ids",
                                 "posts", "page_rows"]
    read_models.calls.clear()
    await account_posts(ctx, "author", READER, None, 10)  # bodies and counts now cached
    assert read_models.calls.count("page_rows") == 1
    assert "posts" not in read_models.calls


async def test_a_tag_timeline_pages_newest_first_without_hidden_authors() -> None:
    ctx, read_models = context()
    read_models.tables.posts += [
        StoredPost(20, AUTHOR, "#Roost one", hashtags=["roost"]),
        StoredPost(21, BLOCKER, "#roost by the blocker", hashtags=["roost"]),
        StoredPost(22, MUTED, "#roost by the muted", hashtags=["roost"]),
        StoredPost(23, AUTHOR, "#roost gone", hashtags=["roost"], deleted=True),
        StoredPost(24, AUTHOR, "#roost two", hashtags=["roost"]),
        StoredPost(25, AUTHOR, "#roosting", hashtags=["roosting"])]
    first = await tag_timeline(ctx, "#ROOST", READER, None, 1)
    assert [p["id"] for p in first["items"]] == ["24"]
    rest = await tag_timeline(ctx, "roost", READER, first["next_cursor"], 10)
    assert ([p["id"] for p in rest["items"]], rest["next_cursor"]) == (["20"], None)
    anonymous = await tag_timeline(ctx, "Roost", None, None, 10)
    assert [p["id"] for p in anonymous["items"]] == ["24", "22", "21", "20"]
    assert (await tag_timeline(ctx, "no tag!", READER, None, 10))["items"] == []


async def test_a_suspended_account_answers_403_and_its_posts_and_reposts_are_hidden() -> None:
    """Every read that names the author is 403 ``account_suspended``; its posts leave
    threads, tag pages and single reads (404, as a deleted post's), its reposts leave
    pages, the replies to its posts show their parent unavailable; lifting the
    suspension shows everything again."""
    from domain.errors import AccountSuspended

    ctx, read_models = context()
    read_models.tables.posts.append(StoredPost(16, REPOSTER, "reply by another",
                                               reply_to_id=10, hashtags=["t"]))
    read_models.tables.posts[0].hashtags.append("t")
    author = next(a for a in read_models.tables.accounts if a.id == AUTHOR)
    author.suspended = True
    for read in (get_account(ctx, "author"), relationship(ctx, READER, "author"),
                 follow_list(ctx, "author", "followers", READER, None, 10),
                 account_posts(ctx, "author", READER, None, 10)):
        with pytest.raises(AccountSuspended) as caught:
            await read
        assert (caught.value.status, caught.value.code) == (403, "account_suspended")
    with pytest.raises(NotFound):
        await get_post(ctx, 10, READER)
    [reply] = await hydrate(ctx, [(16, None), (11, None), (100, 10)], READER)
    assert (reply["id"], reply["reply_to_available"]) == ("16", False)
    assert [p["id"] for p in (await tag_timeline(ctx, "t", None, None, 10))["items"]] == ["16"]
    assert "author" not in names((await follow_list(ctx, "reader", "following", None, None,
                                                    10))["items"])
    author.suspended = False
    assert [p["id"] for p in await hydrate(ctx, [(16, None), (11, None), (100, 10)],
                                           READER)] == ["16", "11", "100"]
    assert (await get_account(ctx, "author"))["username"] == "author"
