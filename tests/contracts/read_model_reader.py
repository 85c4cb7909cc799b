"""The contract of ``ports.read_model_reader.ReadModelReader``.

Each test lays out read-model rows (``tests.fakes.read_model_reader.ReadModelTables``)
and asks the reader; ``tests/unit/test_store_contracts.py`` runs the suite on
the in-memory fake, ``tests/integration/test_store_contracts.py`` on the
PostgreSQL adapter over the same rows inserted into the ``rm_*`` tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ports.read_model_reader import (
    AccountRow,
    Edge,
    FollowDirection,
    HiddenAccounts,
    ReadModelReader,
)
from tests.fakes.read_model_reader import (
    ReadModelTables,
    StoredAccount,
    StoredEdge,
    StoredMedia,
    StoredPost,
    StoredRepost,
)

Given = Callable[[ReadModelTables], Awaitable[ReadModelReader]]
"""``await given(tables)``: a reader of read models that hold exactly ``tables``."""

EVERYTHING = 2**63 - 1
"""A keyset bound below which every position and id lies."""
SINCE = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def account_row(account: StoredAccount) -> AccountRow:
    return {"id": account.id, "username": account.username,
            "display_name": account.display_name, "bio": account.bio,
            "avatar_url": account.avatar_url, "created_at": account.created_at,
            "followers_count": account.followers_count,
            "following_count": account.following_count, "posts_count": account.posts_count,
            "email": "", "suspended": account.suspended}


def accounts(*ids: int) -> list[StoredAccount]:
    return [StoredAccount(i, f"user{i}") for i in ids]


class ReadModelReaderContract:
    """Fixture: ``given`` (``Given``), called once per test."""

    async def test_an_empty_read_model_has_nothing(self, given: Given) -> None:
        reader = await given(ReadModelTables())
        assert await reader.account_id("alice") is None
        assert await reader.account_by_username("alice") is None
        assert await reader.account_by_id(1) is None
        assert await reader.accounts_by_id([1, 2]) == []
        assert await reader.follow_page(1, "followers", EVERYTHING, [], 10) == []
        assert await reader.edges_between(1, 2) == []
        assert await reader.hidden_accounts(1) == HiddenAccounts()
        assert await reader.posts([1, 2]) == []
        assert await reader.posts([]) == []
        rows = await reader.page_rows(1, {1}, [5], [6], [7])
        assert (rows.authors, rows.reposts, rows.live_parents, rows.liked, rows.reposted,
                rows.hidden) == ([], [], set(), set(), set(), HiddenAccounts())
        assert await reader.account_post_ids(1, EVERYTHING, 10) == []
        assert await reader.tagged_post_ids("roost", EVERYTHING, [], 10) == []
        around = await reader.thread_ids(1, 10)
        assert (around.ancestors, around.descendants) == ([], [])
        assert await reader.rebuild_items(1, [], 10) == []

    async def test_an_account_by_username_in_any_case_or_by_id(self, given: Given) -> None:
        alice = StoredAccount(2**62 + 1, "Alice", display_name="Alice A.", bio="h\u00e9llo",
                              avatar_url="https://example.com/a.png", created_at=SINCE,
                              followers_count=3, following_count=2, posts_count=5)
        reader = await given(ReadModelTables(accounts=[alice, *accounts(7)]))
        for name in ("Alice", "alice", "ALICE"):
            assert await reader.account_id(name) == alice.id
            assert await reader.account_by_username(name) == account_row(alice)
        assert await reader.account_by_id(alice.id) == account_row(alice)
        assert await reader.account_by_id(7) == account_row(StoredAccount(7, "user7"))
        assert await reader.account_id("user8") is None
        assert await reader.account_by_username("ali") is None
        assert await reader.account_by_id(8) is None
        found = await reader.accounts_by_id([7, alice.id, 8, 7])
        assert sorted(found, key=lambda row: row["id"]) == [account_row(StoredAccount(7, "user7")),
                                                             account_row(alice)]
        assert await reader.accounts_by_id([]) == []

    async def test_follow_lists_newest_follow_first_below_a_position(
        self, given: Given,
    ) -> None:
        star = StoredAccount(1, "star", display_name="Star", followers_count=4)
        follows = [StoredEdge(2, 1, position=10), StoredEdge(3, 1, position=20),
                   StoredEdge(4, 1, active=False, position=30), StoredEdge(5, 1, position=40),
                   StoredEdge(1, 2, position=50), StoredEdge(9, 1, position=60),  # 9: unknown
                   StoredEdge(6, 1, position=70), StoredEdge(6, 2, position=80)]
        reader = await given(ReadModelTables(accounts=[star, *accounts(2, 3, 4, 5, 6)],
                                             follows=follows))

        async def ids(direction: FollowDirection, before: int = EVERYTHING,
                      excluding: tuple[int, ...] = (), limit: int = 10, account: int = 1
                      ) -> list[tuple[int, int]]:
            rows = await reader.follow_page(account, direction, before, excluding, limit)
            return [(row["id"], row["position"]) for row in rows]

        assert await ids("followers") == [(6, 70), (5, 40), (3, 20), (2, 10)]
        assert await ids("followers", before=40) == [(3, 20), (2, 10)]
        assert await ids("followers", before=41) == [(5, 40), (3, 20), (2, 10)]
        assert await ids("followers", excluding=(3, 6, 99)) == [(5, 40), (2, 10)]
        assert await ids("followers", limit=2) == [(6, 70), (5, 40)]
        assert await ids("following") == [(2, 50)]
        assert await ids("following", account=6) == [(2, 80), (1, 70)]
        assert await ids("following", account=4) == []
        [first] = await reader.follow_page(6, "following", 75, [], 10)
        assert first == {**account_row(star), "position": 70}

    async def test_the_edges_between_two_accounts(self, given: Given) -> None:
        reader = await given(ReadModelTables(
            accounts=accounts(1, 2, 3),
            follows=[StoredEdge(1, 2), StoredEdge(2, 1), StoredEdge(1, 3),
                     StoredEdge(3, 2, active=False)],
            blocks=[StoredEdge(2, 1), StoredEdge(1, 2, active=False), StoredEdge(3, 1)],
            mutes=[StoredEdge(1, 2), StoredEdge(2, 1), StoredEdge(2, 3, active=False)],
        ))
        assert set(await reader.edges_between(1, 2)) == {
            Edge("follow", 1, 2), Edge("follow", 2, 1), Edge("block", 2, 1),
            Edge("mute", 1, 2)}  # the reader's mute only
        assert set(await reader.edges_between(2, 1)) == {
            Edge("follow", 1, 2), Edge("follow", 2, 1), Edge("block", 2, 1),
            Edge("mute", 2, 1)}
        assert set(await reader.edges_between(1, 3)) == {Edge("follow", 1, 3),
                                                        Edge("block", 3, 1)}
        assert await reader.edges_between(2, 3) == []
        assert await reader.edges_between(3, 2) == []

    async def test_whom_a_reader_must_not_see(self, given: Given) -> None:
        reader = await given(ReadModelTables(
            accounts=accounts(*range(1, 9)),
            blocks=[StoredEdge(1, 2), StoredEdge(3, 1), StoredEdge(1, 4, active=False),
                    StoredEdge(5, 6)],
            mutes=[StoredEdge(1, 5), StoredEdge(6, 1), StoredEdge(1, 7, active=False)],
        ))
        assert await reader.hidden_accounts(1) == HiddenAccounts(frozenset({2, 3}),
                                                                 frozenset({5}))
        assert await reader.hidden_accounts(6) == HiddenAccounts(frozenset({5}),
                                                                 frozenset({1}))
        assert await reader.hidden_accounts(8) == HiddenAccounts()

    async def test_posts_with_their_counts_deleted_ones_marked(self, given: Given) -> None:
        post = StoredPost(2**62 + 10, 1, "h\u00e9llo @bob #tag \U0001f426", created_at=SINCE,
                          reply_to_id=9, quote_of_id=8, mentions=["bob"], hashtags=["tag"],
                          likes_count=3, replies_count=2, reposts_count=1)
        gone = StoredPost(11, 1, "gone", likes_count=4, deleted=True)
        reader = await given(ReadModelTables(accounts=accounts(1), posts=[post, gone]))
        rows = sorted(await reader.posts([post.id, 11, 12]), key=lambda row: row["id"])
        assert rows == [
            {"id": 11, "author_id": 1, "text": "gone", "created_at": gone.created_at,
             "reply_to_id": None, "quote_of_id": None, "mentions": [], "hashtags": [],
             "likes_count": 4, "replies_count": 0, "reposts_count": 0, "deleted": 1,
             "media_ids": []},
            {"id": post.id, "author_id": 1, "text": post.text, "created_at": SINCE,
             "reply_to_id": 9, "quote_of_id": 8, "mentions": ["bob"], "hashtags": ["tag"],
             "likes_count": 3, "replies_count": 2, "reposts_count": 1, "deleted": 0,
             "media_ids": []},
        ]
        assert await reader.posts([12]) == []

    async def test_what_a_page_needs_for_a_reader_or_none(self, given: Given) -> None:
        author = StoredAccount(2, "author", display_name="Au", followers_count=1)
        reposter = StoredAccount(3, "reposter", bio="rp")
        tables = ReadModelTables(
            accounts=[*accounts(1, 4), author, reposter],
            posts=[StoredPost(10, 2), StoredPost(11, 2, deleted=True),
                   StoredPost(12, 2, reply_to_id=10)],
            likes=[StoredEdge(1, 10), StoredEdge(1, 12, active=False), StoredEdge(4, 12),
                   StoredEdge(1, 13)],
            reposts=[StoredRepost(3, 10, 100, since=SINCE), StoredRepost(1, 12, 101),
                     StoredRepost(4, 10, 102, active=False), StoredRepost(1, 11, 103)],
            blocks=[StoredEdge(1, 4)],
            mutes=[StoredEdge(1, 3)],
        )
        reader = await given(tables)
        rows = await reader.page_rows(1, {2, 99}, [100, 102], [10, 12], [10, 11, 98])
        assert rows.authors == [account_row(author)]
        assert rows.reposts == [{**account_row(reposter), "repost_id": 100, "since": SINCE}]
        assert rows.live_parents == {10}
        assert (rows.liked, rows.reposted) == ({10}, {12})
        assert rows.hidden == HiddenAccounts(frozenset({4}), frozenset({3}))

        anonymous = await reader.page_rows(None, {2}, [], [10, 12], [])
        assert anonymous.authors == [account_row(author)]
        assert (anonymous.reposts, anonymous.live_parents) == ([], set())
        assert (anonymous.liked, anonymous.reposted) == (set(), set())
        assert anonymous.hidden == HiddenAccounts()
        other = await reader.page_rows(4, set(), [], [10, 12], [])
        assert (other.liked, other.reposted) == ({12}, set())
        assert other.hidden == HiddenAccounts(frozenset({1}), frozenset())

    async def test_a_suspended_account_is_named_but_never_shown_to_others(
        self, given: Given,
    ) -> None:
        """The lookups of one account say ``suspended``; every lookup that lists accounts
        or posts for others leaves the account, its posts, reposts and media out (its
        media's keys stay live: the suspension may be lifted)."""
        gone = StoredAccount(2, "Gone", suspended=True)
        image = {"key": "o", "content_type": "image/jpeg", "width": 1, "height": 1, "bytes": 1}
        reader = await given(ReadModelTables(
            accounts=[*accounts(1, 3), gone],
            posts=[StoredPost(10, 2, hashtags=["t"], media_ids=[5]),
                   StoredPost(11, 3, reply_to_id=10, hashtags=["t"]),
                   StoredPost(12, 3, hashtags=["t"])],
            follows=[StoredEdge(2, 1, position=5), StoredEdge(3, 1, position=6),
                     StoredEdge(1, 2, position=7)],
            reposts=[StoredRepost(2, 12, 100), StoredRepost(1, 12, 101)],
            media=[StoredMedia(5, 2, image, {**image, "key": "s"}, post_id=10)],
        ))
        assert await reader.account_by_username("gone") == account_row(gone)
        by_id = await reader.account_by_id(2)
        assert by_id is not None and by_id["suspended"] is True
        assert await reader.account_id("gone") == 2
        assert [row["id"] for row in await reader.accounts_by_id([1, 2])] == [1]
        assert [r["id"] for r in await reader.follow_page(1, "followers", EVERYTHING, [], 9)] \
            == [3]
        assert await reader.follow_page(1, "following", EVERYTHING, [], 9) == []
        rows = await reader.page_rows(1, {2, 3}, [100, 101], [10, 11, 12], [10])
        assert [row["id"] for row in rows.authors] == [3]
        assert [row["repost_id"] for row in rows.reposts] == [101]
        assert rows.live_parents == set()
        assert await reader.tagged_post_ids("t", EVERYTHING, [], 10) == [12, 11]
        [medium] = await reader.media([5])
        assert (medium["owner_suspended"], medium["post_deleted"]) == (True, False)
        assert await reader.live_media_keys(["o", "s", "never-stored"], SINCE) == {"o", "s"}
        assert await reader.account_post_ids(2, EVERYTHING, 10) == [10]  # its own

    async def test_an_accounts_posts_newest_first_below_an_id(self, given: Given) -> None:
        reader = await given(ReadModelTables(
            accounts=accounts(1, 2),
            posts=[StoredPost(10, 1), StoredPost(11, 1, deleted=True), StoredPost(12, 1),
                   StoredPost(13, 1), StoredPost(20, 2)],
        ))
        assert await reader.account_post_ids(1, EVERYTHING, 10) == [13, 12, 10]
        assert await reader.account_post_ids(1, 13, 10) == [12, 10]
        assert await reader.account_post_ids(1, EVERYTHING, 1) == [13]
        assert await reader.account_post_ids(3, EVERYTHING, 10) == []

    async def test_a_tags_posts_newest_first_below_an_id_but_for_some_authors(
        self, given: Given,
    ) -> None:
        reader = await given(ReadModelTables(
            accounts=accounts(1, 2, 3),
            posts=[StoredPost(10, 1, hashtags=["roost", "caf\u00e9"]),
                   StoredPost(11, 2, hashtags=["roost"]),
                   StoredPost(12, 1, hashtags=["roost"], deleted=True),
                   StoredPost(13, 3, hashtags=["roosting"]),
                   StoredPost(14, 3, hashtags=["roost"]), StoredPost(15, 1)],
        ))
        assert await reader.tagged_post_ids("roost", EVERYTHING, [], 10) == [14, 11, 10]
        assert await reader.tagged_post_ids("roost", 14, [], 10) == [11, 10]
        assert await reader.tagged_post_ids("roost", EVERYTHING, [], 2) == [14, 11]
        assert await reader.tagged_post_ids("roost", EVERYTHING, [2, 99], 10) == [14, 10]
        assert await reader.tagged_post_ids("caf\u00e9", EVERYTHING, [], 10) == [10]
        assert await reader.tagged_post_ids("Roost", EVERYTHING, [], 10) == []  # stored form
        assert await reader.tagged_post_ids("roosting", EVERYTHING, [3], 10) == []

    async def test_a_thread_root_first_and_depth_first(self, given: Given) -> None:
        # 1 <- 2 <- 3 <- {4 <- 6, 5 <- 7 (deleted) <- 8}; 9 replies to a post not there
        replies = {2: 1, 3: 2, 4: 3, 5: 3, 6: 4, 7: 5, 8: 7, 9: 50}
        reader = await given(ReadModelTables(
            accounts=accounts(1),
            posts=[StoredPost(1, 1), *(StoredPost(i, 1, reply_to_id=parent, deleted=i == 7)
                                       for i, parent in replies.items())],
        ))
        around = await reader.thread_ids(3, 1000)
        assert (around.ancestors, around.descendants) == ([1, 2], [4, 6, 5, 7, 8])
        root = await reader.thread_ids(1, 1000)
        assert (root.ancestors, root.descendants) == ([], [2, 3, 4, 6, 5, 7, 8])
        leaf = await reader.thread_ids(8, 1000)
        assert (leaf.ancestors, leaf.descendants) == ([1, 2, 3, 5, 7], [])
        orphan = await reader.thread_ids(9, 1000)
        assert (orphan.ancestors, orphan.descendants) == ([], [])
        # at most max_posts ancestors (the nearest) and descendants, at most that deep
        for max_posts, ancestors, descendants in ((1, [2], [4]), (2, [1, 2], [4, 6]),
                                                  (3, [1, 2], [4, 6, 5])):
            bounded = await reader.thread_ids(3, max_posts)
            assert (bounded.ancestors, bounded.descendants) == (ancestors, descendants)
        assert (await reader.thread_ids(1, 2)).descendants == [2, 3]

    async def test_what_a_rebuilt_timeline_holds(self, given: Given) -> None:
        reader = await given(ReadModelTables(
            accounts=accounts(*range(1, 6)),
            follows=[StoredEdge(1, 2), StoredEdge(1, 3), StoredEdge(1, 4, active=False),
                     StoredEdge(5, 1)],
            posts=[StoredPost(10, 1), StoredPost(11, 2), StoredPost(12, 2, deleted=True),
                   StoredPost(13, 3), StoredPost(14, 4), StoredPost(15, 5)],
            reposts=[StoredRepost(2, 15, 20), StoredRepost(2, 12, 21), StoredRepost(3, 15, 22),
                     StoredRepost(1, 13, 23), StoredRepost(2, 14, 24, active=False)],
        ))
        assert sorted(await reader.rebuild_items(1, [3], 10)) == [
            (10, None), (11, None), (20, 15), (23, 13)]
        assert sorted(await reader.rebuild_items(1, [], 10)) == [
            (10, None), (11, None), (13, None), (20, 15), (22, 15), (23, 13)]
        assert sorted(await reader.rebuild_items(1, [3], 1)) == [(11, None), (23, 13)]
        # the reader's own items are in even when the reader is excluded
        assert sorted(await reader.rebuild_items(3, [3], 10)) == [(13, None), (22, 15)]
        assert await reader.rebuild_items(4, [], 10) == [(14, None)]

    async def test_media_rows_and_the_keys_still_live(self, given: Given) -> None:
        def variant(name: str) -> dict[str, Any]:
            return {"key": name, "content_type": "image/jpeg", "width": 4, "height": 3,
                    "bytes": 10}

        old, new = SINCE - timedelta(days=2), SINCE
        media = [StoredMedia(1, 7, variant("o1"), variant("s1"), "alt", "bh", None, new),
                 StoredMedia(2, 7, variant("o2"), variant("s2"), created_at=old),
                 StoredMedia(3, 7, variant("o3"), variant("s3"), post_id=20, created_at=old),
                 StoredMedia(4, 7, variant("o4"), variant("s4"), post_id=21, created_at=old),
                 StoredMedia(5, 7, variant("o1"), variant("s5"), post_id=21, created_at=old)]
        posts = [StoredPost(20, 7, media_ids=[3]),
                 StoredPost(21, 7, media_ids=[4, 5], deleted=True)]
        reader = await given(ReadModelTables(accounts=accounts(7), posts=posts, media=media))
        rows = {row["id"]: row for row in await reader.media([1, 3, 4, 99])}
        assert set(rows) == {1, 3, 4}
        assert rows[1] == {"id": 1, "owner_id": 7, "description": "alt", "blurhash": "bh",
                           "original": variant("o1"), "small": variant("s1"), "post_id": None,
                           "post_deleted": False, "created_at": new,
                           "owner_suspended": False}
        assert (rows[3]["post_id"], rows[3]["post_deleted"]) == (20, False)
        assert rows[4]["post_deleted"] is True
        assert [p["media_ids"] for p in await reader.posts([20, 21])] in (
            [[3], [4, 5]], [[4, 5], [3]])
        # 1: unattached and recent; 3: on a live post; o1 also names 5's (a shared key).
        every = ["o1", "s1", "o2", "s2", "o3", "s3", "o4", "s4", "s5", "unknown"]
        assert await reader.live_media_keys(every, SINCE - timedelta(days=1)) == {
            "o1", "s1", "o3", "s3"}
        # Only the keys asked about (a page of the store's listing).
        assert await reader.live_media_keys(["s1", "o3", "o4"], SINCE - timedelta(days=1)
                                            ) == {"s1", "o3"}
        assert await reader.live_media_keys([], SINCE - timedelta(days=1)) == set()
        assert await reader.media([]) == []
