"""The contract of ``ports.read_models.ReadModelStore``, run against every implementation.

``ReadModelStoreContract`` holds the suite; ``tests/unit/test_store_contracts.py``
runs it on the in-memory fake (``tests.fakes.read_models``) and
``tests/integration/test_store_contracts.py`` on the PostgreSQL adapter
(``infra.read_model_store``) in a database of its own per test, so the fake
that the policy's unit tests use is held to what PostgreSQL does. What the
store holds is read back through the ``tables`` fixture, in the fake's form
(``tests.fakes.read_models.Tables``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ports.read_models import (
    AdminChange,
    Edge,
    EdgeState,
    NewAccount,
    NewMedia,
    NewPost,
    ProfileChange,
    ReadModelStore,
    ReadModelWriter,
    StoredPost,
    SuspensionChange,
)
from tests.fakes.read_models import Tables

ReadBack = Callable[[], Awaitable[Tables]]
"""Everything the store holds, committed, as ``Tables``."""

T0, T1, T2 = "2026-11-24T10:00:00.000Z", "2026-11-24T10:00:01.250Z", "2026-11-24T10:00:02.999Z"
AGGREGATE = "0d4f7a7e-57a4-5c11-9a39-5a0a5b0f0c01"


def account(account_id: int = 1, username: str = "Alice", aggregate_id: str = AGGREGATE
            ) -> NewAccount:
    return NewAccount(account_id=account_id, aggregate_id=aggregate_id, username=username,
                      email="", display_name=f"{username} A.", created_at=T0, version=1)


def new_post(post_id: int, author_id: int = 1, reply_to_id: int | None = None) -> NewPost:
    return NewPost(post_id=post_id, author_id=author_id, text=f"post {post_id} \u00e9\U0001f426",
                   reply_to_id=reply_to_id, quote_of_id=None, mentions=["bob"],
                   hashtags=["roost"], created_at=T1, version=1)


def counts(likes: int = 0, replies: int = 0, reposts: int = 0, deleted: int = 0
           ) -> dict[str, int]:
    return {"likes_count": likes, "replies_count": replies, "reposts_count": reposts,
            "deleted": deleted}


class ReadModelStoreContract:
    """What every ``ReadModelStore`` does; subclasses provide the ``store`` fixture (an
    empty store) and ``tables`` (reads it back)."""

    async def test_an_empty_store_is_at_position_0(self, store: ReadModelStore,
                                                   tables: ReadBack) -> None:
        assert await store.position() == 0
        assert await tables() == Tables()

    async def test_a_committed_transaction_keeps_its_writes_and_position(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            assert await tx.locked_position() == 0
            await tx.add_account(account())
            await tx.set_position(7)
        assert await store.position() == 7
        async with store.transaction() as tx:
            assert await tx.locked_position() == 7
        assert (await tables()).accounts[1]["username_lower"] == "alice"

    async def test_a_transaction_that_raises_keeps_nothing(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            await tx.locked_position()
            await tx.add_account(account())
            await tx.set_position(3)
        before = await tables()
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                assert await tx.locked_position() == 3
                await tx.add_post(new_post(10))
                await tx.add_to_counts("posts_count", {1: 1})
                await tx.write_edges("likes", [Edge(1, 10, True, 1, 4, T1)])
                await tx.set_position(4)
                raise RuntimeError("the post cache could not be told")
        assert await store.position() == 3
        assert await tables() == before

    async def test_the_position_is_locked_until_the_transaction_ends(
        self, store: ReadModelStore,
    ) -> None:
        first_holds, first_may_commit = asyncio.Event(), asyncio.Event()
        order: list[str] = []

        async def first() -> None:
            async with store.transaction() as tx:
                await tx.locked_position()
                first_holds.set()
                await first_may_commit.wait()
                await tx.set_position(5)
                order.append("first commits")

        async def second() -> None:
            async with store.transaction() as tx:
                position = await tx.locked_position()
                order.append(f"second sees {position}")

        holder = asyncio.create_task(first())
        await asyncio.wait_for(first_holds.wait(), timeout=10)
        waiter = asyncio.create_task(second())
        done, _ = await asyncio.wait({waiter}, timeout=0.2)  # it must not get the position
        assert not done and order == []
        first_may_commit.set()
        await asyncio.wait_for(asyncio.gather(holder, waiter), timeout=10)
        assert order == ["first commits", "second sees 5"]

    async def test_an_account_is_added_once_and_updated_by_newer_versions_only(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            await tx.add_account(account())
            await tx.add_account(NewAccount(1, AGGREGATE, "Alice", "", "Other", T2, 9))
            await tx.update_profile(ProfileChange(AGGREGATE, "Al", "bio", "https://a/b", 2))
            await tx.update_profile(ProfileChange(AGGREGATE, "stale", "", "", 2))
        assert (await tables()).accounts == {1: {
            "id": 1, "aggregate_id": AGGREGATE, "username": "Alice", "username_lower": "alice",
            "email": "", "display_name": "Al", "bio": "bio", "avatar_url": "https://a/b",
            "created_at": T0, "version": 2, "followers_count": 0, "following_count": 0,
            "posts_count": 0, "is_admin": False, "suspended_at": None}}

    @pytest.mark.parametrize("flag", ["is_admin", "suspended_at"])
    async def test_the_admin_role_and_a_suspension_follow_newer_versions_only(
        self, store: ReadModelStore, tables: ReadBack, flag: str,
    ) -> None:
        on, off = (True, False) if flag == "is_admin" else (T2, None)

        async def set_flag(tx: ReadModelWriter, value: object, version: int,
                           aggregate: str = AGGREGATE) -> None:
            if flag == "is_admin":
                await tx.set_admin(AdminChange(aggregate, bool(value), version))
            else:
                await tx.set_suspension(SuspensionChange(aggregate, T2 if value else None,
                                                         version))

        async with store.transaction() as tx:
            await tx.add_account(account())
            await set_flag(tx, on, 2)
        assert (await tables()).accounts[1][flag] == on
        async with store.transaction() as tx:
            await set_flag(tx, off, 2)  # a replay of an older one
            await set_flag(tx, off, 9, "00000000-0000-0000-0000-000000000000")
        assert (await tables()).accounts[1][flag] == on
        async with store.transaction() as tx:
            await set_flag(tx, off, 3)
        row = (await tables()).accounts[1]
        assert row[flag] == off and row["version"] == 3

    async def test_a_post_is_added_once_and_read_back_whole(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            assert await tx.add_post(new_post(10))
            assert not await tx.add_post(new_post(10, author_id=2))
            assert await tx.add_post(new_post(11, reply_to_id=10))
            assert await tx.lock_post(10) == StoredPost(deleted=False, reply_to_id=None,
                                                        hashtags=("roost",))
            assert await tx.lock_post(11) == StoredPost(deleted=False, reply_to_id=10,
                                                        hashtags=("roost",))
            assert await tx.lock_post(12) is None
        assert (await tables()).posts[11] == {
            "id": 11, "author_id": 1, "text": "post 11 \u00e9\U0001f426", "reply_to_id": 10,
            "quote_of_id": None, "mentions": ["bob"], "hashtags": ["roost"],
            "created_at": T1, "deleted_at": None, "version": 1,
            "likes_count": 0, "replies_count": 0, "reposts_count": 0, "media_ids": []}

    async def test_a_deleted_post_and_a_tombstone(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            await tx.add_post(new_post(10))
            await tx.mark_deleted(10, T2, 2)
            await tx.add_tombstone(20, 1, T2, 2)  # deleted before its creation was applied
            await tx.add_tombstone(10, 1, T0, 5)  # there already: nothing
            assert not await tx.add_post(new_post(20))  # the creation, later: nothing
            assert await tx.lock_post(10) == StoredPost(deleted=True, reply_to_id=None,
                                                        hashtags=("roost",))
            assert await tx.lock_post(20) == StoredPost(deleted=True, reply_to_id=None)
        posts = (await tables()).posts
        assert (posts[10]["deleted_at"], posts[10]["version"]) == (T2, 2)
        assert posts[20] == {
            "id": 20, "author_id": 1, "text": "", "reply_to_id": None, "quote_of_id": None,
            "mentions": [], "hashtags": [], "created_at": T2, "deleted_at": T2, "version": 2,
            "likes_count": 0, "replies_count": 0, "reposts_count": 0, "media_ids": []}

    async def test_tag_rows_are_added_once_per_tag_and_removed_by_tag(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            await tx.add_post_tags(10, 1, ["roost", "caf\u00e9", "roost"])
            await tx.add_post_tags(11, 2, ["roost"])
            await tx.add_post_tags(10, 3, ["roost"])  # there already: left as it is
            await tx.add_post_tags(12, 1, [])  # nothing
        assert (await tables()).post_tags == {("roost", 10, 1), ("caf\u00e9", 10, 1),
                                              ("roost", 11, 2)}
        async with store.transaction() as tx:
            await tx.remove_post_tags(10, ["roost", "absent"])
            await tx.remove_post_tags(11, [])  # nothing
        assert (await tables()).post_tags == {("caf\u00e9", 10, 1), ("roost", 11, 2)}

    async def test_edges_are_written_and_read_back_by_key(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            assert await tx.lock_edges("follows", [(1, 2)]) == {}
            await tx.write_edges("follows", [Edge(1, 2, True, 1, 5, T0),
                                             Edge(2, 1, True, 1, 6, T1)])
            await tx.write_edges("reposts", [Edge(1, 10, True, 1, 7, T1, repost_id=99)])
            await tx.write_edges("likes", [Edge(1, 10, True, 1, 8, T1, repost_id=None)])
            await tx.write_edges("blocks", [])  # nothing to write
        async with store.transaction() as tx:
            assert await tx.lock_edges("follows", [(1, 2), (3, 4), (2, 1)]) == {
                (1, 2): EdgeState(True, 1), (2, 1): EdgeState(True, 1)}
            assert await tx.lock_edges("likes", [(2, 1)]) == {}  # another kind, other keys
            await tx.write_edges("follows", [Edge(1, 2, False, 2, 9, T2)])  # overwritten
            await tx.write_edges("reposts", [Edge(1, 10, True, 3, 10, T2, repost_id=100)])
        held = (await tables()).edges
        assert held["follows"] == {(1, 2): Edge(1, 2, False, 2, 9, T2),
                                   (2, 1): Edge(2, 1, True, 1, 6, T1)}
        assert held["reposts"] == {(1, 10): Edge(1, 10, True, 3, 10, T2, repost_id=100)}
        assert held["likes"] == {(1, 10): Edge(1, 10, True, 1, 8, T1)}
        assert held["blocks"] == held["mutes"] == {}

    async def test_counts_move_by_steps_and_post_counts_stay_at_or_above_0(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        async with store.transaction() as tx:
            await tx.add_account(account(1, "alice"))
            await tx.add_account(account(2, "bob", "0d4f7a7e-57a4-5c11-9a39-5a0a5b0f0c02"))
            await tx.add_post(new_post(10))
            await tx.add_to_counts("followers_count", {1: 2, 2: 1, 404: 5})  # 404: no row
            await tx.add_to_counts("followers_count", {1: -1, 2: 0})
            await tx.add_to_counts("following_count", {2: -1})  # accounts are not floored
            await tx.add_to_counts("posts_count", {})
            await tx.add_to_counts("likes_count", {10: 3})
            await tx.add_to_counts("likes_count", {10: -5})
            await tx.add_to_counts("reposts_count", {10: 2})
        held = await tables()
        assert [(a["followers_count"], a["following_count"], a["posts_count"])
                for a in (held.accounts[1], held.accounts[2])] == [(1, 0, 0), (1, -1, 0)]
        assert (held.posts[10]["likes_count"], held.posts[10]["reposts_count"]) == (0, 2)
        assert 404 not in held.accounts

    async def test_post_counts_include_the_parents(self, store: ReadModelStore) -> None:
        async with store.transaction() as tx:
            await tx.add_post(new_post(10))
            await tx.add_post(new_post(11, reply_to_id=10))
            await tx.add_post(new_post(12, reply_to_id=404))  # a parent never applied
            await tx.add_to_counts("replies_count", {10: 1})
            await tx.add_to_counts("likes_count", {11: 2})
            await tx.mark_deleted(11, T2, 2)
            assert await tx.post_counts([11, 12, 13]) == {
                10: counts(replies=1), 11: counts(likes=2, deleted=1), 12: counts()}
            assert await tx.post_counts([]) == {}
            assert await tx.post_counts([10]) == {10: counts(replies=1)}

    async def test_reset_forgets_everything(self, store: ReadModelStore,
                                            tables: ReadBack) -> None:
        async with store.transaction() as tx:
            await tx.locked_position()
            await tx.add_account(account())
            await tx.add_post(new_post(10))
            await tx.write_edges("mutes", [Edge(1, 2, True, 1, 3, T0)])
            await tx.add_post_tags(10, 1, ["roost"])
            await tx.set_position(3)
        await store.reset()
        await store.analyze()
        assert await store.position() == 0
        assert await tables() == Tables()
        async with store.transaction() as tx:  # and it is written to again as new
            assert await tx.locked_position() == 0
            await tx.set_position(1)
        assert await store.position() == 1

    async def test_erasure_reads_what_it_purges_and_removes_the_personal_data(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        """``live_post_ids``, ``active_edges`` (the account at an account end) and
        ``erase_account`` (row gone, every post of it without text, its tag rows gone,
        other accounts' rows untouched)."""
        async with store.transaction() as tx:
            await tx.add_account(account())
            await tx.add_account(account(2, "Bob", "0d4f7a7e-57a4-5c11-9a39-5a0a5b0f0c02"))
            for post in (new_post(10), new_post(11), new_post(12, author_id=2)):
                await tx.add_post(post)
                await tx.add_post_tags(post.post_id, post.author_id, post.hashtags)
            await tx.mark_deleted(11, T2, 2)
            await tx.write_edges("follows", [Edge(1, 2, True, 1, 3, T0),
                                             Edge(2, 1, True, 1, 4, T1),
                                             Edge(2, 3, True, 1, 5, T1)])
            await tx.write_edges("reposts", [Edge(1, 12, True, 2, 6, T2, repost_id=900),
                                             Edge(2, 10, True, 1, 7, T2, repost_id=901)])
            assert await tx.live_post_ids(1) == [10]
            assert await tx.active_edges("follows", 1) == [Edge(1, 2, True, 1, 3, T0),
                                                           Edge(2, 1, True, 1, 4, T1)]
            assert await tx.active_edges("reposts", 1) == [
                Edge(1, 12, True, 2, 6, T2, repost_id=900)]
            await tx.erase_account(1)
        held = await tables()
        assert set(held.accounts) == {2}
        assert {i: (p["text"], p["mentions"], p["hashtags"]) for i, p in held.posts.items()} \
            == {10: ("", [], []), 11: ("", [], []),
                12: ("post 12 \u00e9\U0001f426", ["bob"], ["roost"])}
        assert held.post_tags == {("roost", 12, 2)}

    async def test_media_are_added_described_and_attached_once(
        self, store: ReadModelStore, tables: ReadBack,
    ) -> None:
        variant = {"key": "k", "content_type": "image/png", "width": 3, "height": 2,
                   "bytes": 9}
        async with store.transaction() as tx:
            for media_id in (5, 6, 7):
                await tx.add_media(NewMedia(media_id, 1, "", "bh", variant, variant,
                                            "2026-03-01T00:00:00.000Z", 1))
            await tx.add_media(NewMedia(5, 1, "again", "bh", variant, variant,
                                        "2026-03-01T00:00:00.000Z", 1))  # no change
            await tx.describe_media(5, "a cat", 2)
            await tx.describe_media(5, "older", 2)  # not newer: no change
            await tx.add_post(NewPost(10, 1, "", None, None, [], [],
                                      "2026-03-01T00:00:01.000Z", 1, media_ids=(6, 5)))
            await tx.attach_media(10, [6, 5])
            await tx.attach_media(11, [5, 7])  # 5 keeps its first post
        media = (await tables()).media
        assert media[5]["description"] == "a cat" and media[5]["original"] == variant
        assert [(media[i]["post_id"], media[i]["post_index"]) for i in (6, 5, 7)] == [
            (10, 1), (10, 2), (11, 2)]
        assert (await tables()).posts[10]["media_ids"] == [6, 5]
