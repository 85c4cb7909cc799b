"""The behaviour of ``ports.timelines.TimelineStore``, run against every implementation.

``TimelineStoreContract`` holds the suite; ``tests/unit/test_store_contracts.py``
runs it on the in-memory fake (``tests.fakes.timelines``) and
``tests/integration/test_store_contracts.py`` on the Redis adapter
(``infra.timeline_store``) under a key prefix of its own per test, so the fake
that the fan-out unit tests use is held to what Redis does. Timelines here keep
4 entries; the Redis adapter pipelines 3 readers at a time, so multi-reader
calls cross pipeline and script-call boundaries.
"""

from __future__ import annotations

import itertools

import pytest

from ports.timelines import Reach, Reposts, TimelineItem, TimelineStore
from tests.integration.conftest import wait_until

MAX_ENTRIES = 4
TTL_S = 3600
KEPT, AWAY, OTHER = 101, 102, 103


def post(item_id: int) -> TimelineItem:
    return (item_id, None)


async def timeline(store: TimelineStore, reader: int) -> list[TimelineItem]:
    """The reader's whole timeline, oldest first (without the kept-marker)."""
    [items] = await store.slices(reader, [], None, 1000)
    return items[::-1]


async def shown_by(store: TimelineStore, reader: int, post_id: int) -> int | None:
    """The repost the reader's timeline index shows ``post_id`` by."""
    [reach] = await store.reach(reader, [post_id], [])
    return reach.indexed_repost


class TimelineStoreContract:
    """What every ``TimelineStore`` does; subclasses provide the ``store`` fixture."""

    @pytest.fixture
    async def kept(self, store: TimelineStore) -> TimelineStore:
        """The store with reader ``KEPT``'s timeline kept (and empty)."""
        await store.mark_kept(KEPT, TTL_S)
        return store

    # -- the position ------------------------------------------------------------------

    async def test_the_position_starts_at_zero_and_only_moves_forward(
            self, store: TimelineStore) -> None:
        assert await store.position() == 0
        await store.advance(7)
        await store.advance(5)
        assert await store.position() == 7
        await store.advance(9)
        assert await store.position() == 9

    async def test_max_entries_is_the_configured_length(self, store: TimelineStore) -> None:
        assert store.max_entries == MAX_ENTRIES

    # -- kept timelines ----------------------------------------------------------------

    async def test_a_push_lands_only_in_kept_timelines_unless_told_to_create(
            self, kept: TimelineStore) -> None:
        store = kept
        assert await store.is_kept(KEPT) and not await store.is_kept(AWAY)
        assert await timeline(store, KEPT) == []  # the kept-marker is never read back
        await store.push([KEPT, AWAY], [post(10)])
        assert await timeline(store, KEPT) == [post(10)]
        assert not await store.is_kept(AWAY)
        assert await timeline(store, AWAY) == []
        await store.push([AWAY], [post(10)], only_kept=False)
        assert await store.is_kept(AWAY)
        assert await timeline(store, AWAY) == [post(10)]

    async def test_keep_alive_answers_whether_kept_and_every_celebrity(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.mark_celebrity(7, None)
        await store.mark_celebrity(8, post(1))
        kept_now, celebrities = await store.keep_alive(KEPT, TTL_S)
        assert kept_now and sorted(celebrities) == [7, 8]
        kept_now, celebrities = await store.keep_alive(AWAY, TTL_S)
        assert not kept_now and sorted(celebrities) == [7, 8]
        assert not await store.is_kept(AWAY)  # keeping alive creates nothing

    async def test_open_home_is_keep_alive_following_among_and_slices_in_one(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.mark_celebrity(7, None)
        await store.mark_celebrity(8, None)
        await store.add_follows([(KEPT, 7), (KEPT, 9)])  # 9: followed, no celebrity
        for author, item in ((7, post(30)), (7, post(12)), (8, post(31)), (9, post(32))):
            await store.add_authored(author, item)
        await store.push([KEPT], [post(10), post(20), (25, 5)])
        start = await store.open_home(KEPT, TTL_S, None, 2)
        assert start.kept and sorted(start.celebrities) == [7, 8]
        assert list(start.followed) == [7]
        assert [list(s) for s in start.slices] == [[(25, 5), post(20)], [post(30), post(12)]]
        assert [list(s) for s in start.slices] == await store.slices(KEPT, [7], None, 2)
        below = await store.open_home(KEPT, TTL_S, 20, 5)
        assert [list(s) for s in below.slices] == [[post(10)], [post(12)]]
        away = await store.open_home(AWAY, TTL_S, None, 2)
        assert not away.kept and sorted(away.celebrities) == [7, 8]
        assert (list(away.followed), list(away.slices)) == ([], [])
        assert not await store.is_kept(AWAY)  # opening creates nothing

    async def test_open_home_without_celebrities_reads_the_timeline_alone(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.push([KEPT], [post(10)])
        start = await store.open_home(KEPT, TTL_S, None, 20)
        assert (start.kept, list(start.celebrities), list(start.followed)) == (True, [], [])
        assert [list(s) for s in start.slices] == [[post(10)]]

    async def test_a_timeline_expires_unless_kept_alive(self, store: TimelineStore) -> None:
        await store.mark_kept(KEPT, 1)
        await store.mark_kept(AWAY, 1)
        await store.push([KEPT, AWAY], [post(10)])
        assert (await store.keep_alive(KEPT, TTL_S))[0]
        await store.mark_kept(OTHER, TTL_S)
        await store.keep_for(OTHER, 1)  # marked after the others: expires after them
        await wait_until(lambda: self._gone(store, OTHER), timeout=10, message="expiry")
        assert not await store.is_kept(AWAY)
        assert await store.is_kept(KEPT)
        assert await timeline(store, KEPT) == [post(10)]
        await store.push([AWAY], [post(11)])  # expired: no longer receives pushes
        assert not await store.is_kept(AWAY)

    @staticmethod
    async def _gone(store: TimelineStore, reader: int) -> bool:
        return not await store.is_kept(reader)

    async def test_removing_every_item_ends_the_timeline(self, store: TimelineStore) -> None:
        await store.push([KEPT], [post(10), (20, 5)], only_kept=False)
        await store.remove([KEPT], [post(10), (20, 5)])
        assert not await store.is_kept(KEPT)
        assert await shown_by(store, KEPT, 5) is None

    # -- oldest item wins ----------------------------------------------------------------

    async def test_each_post_is_shown_once_by_its_oldest_item(self, kept: TimelineStore
                                                               ) -> None:
        store = kept
        await store.push([KEPT], [post(10)])
        # a repost of a shown post is skipped, a newer repost of a reposted post too
        await store.push([KEPT], [(30, 20), (31, 10), (32, 20)])
        assert await timeline(store, KEPT) == [post(10), (30, 20)]
        assert await shown_by(store, KEPT, 20) == 30
        await store.push([KEPT], [(30, 20)])  # the same item again: no change
        assert await timeline(store, KEPT) == [post(10), (30, 20)]
        await store.push([KEPT], [(25, 20)])  # an older repost replaces the newer
        assert await timeline(store, KEPT) == [post(10), (25, 20)]
        assert await shown_by(store, KEPT, 20) == 25
        await store.push([KEPT], [post(20)])  # the post itself replaces its repost
        assert await timeline(store, KEPT) == [post(10), post(20)]
        assert await shown_by(store, KEPT, 20) is None
        await store.push([KEPT], [(30, 20)])  # the post itself is shown: skipped
        assert await timeline(store, KEPT) == [post(10), post(20)]

    async def test_the_outcome_does_not_depend_on_the_order_of_pushes(
            self, store: TimelineStore) -> None:
        items = [post(20), (30, 20), (35, 20), (40, 33), (45, 33), post(50)]
        outcomes = set()
        for reader, order in enumerate(itertools.permutations(items, 4), start=1000):
            await store.mark_kept(reader, TTL_S)
            for item in order:
                await store.push([reader], [item])
            chosen = set(order)
            oldest: dict[int, TimelineItem] = {}
            for item in sorted(chosen, key=lambda i: i[0]):
                oldest.setdefault(item[1] or item[0], item)
            assert set(await timeline(store, reader)) == set(oldest.values()), order
            outcomes.add((frozenset(chosen), tuple(await timeline(store, reader))))
        assert len(outcomes) == len({o[0] for o in outcomes})  # one result per set of items

    # -- trimming ------------------------------------------------------------------------

    async def test_timelines_are_trimmed_oldest_first_with_their_index(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.push([KEPT], [post(10), (30, 20)])
        await store.push([KEPT], [post(40), post(50)])  # the kept-marker is trimmed first
        assert await timeline(store, KEPT) == [post(10), (30, 20), post(40), post(50)]
        await store.push([KEPT], [post(60), post(70)])
        assert await timeline(store, KEPT) == [post(40), post(50), post(60), post(70)]
        assert await shown_by(store, KEPT, 20) is None  # the trimmed repost left the index
        await store.push([KEPT], [(80, 20)])  # so the post may be shown again
        assert await shown_by(store, KEPT, 20) == 80
        assert await timeline(store, KEPT) == [post(50), post(60), post(70), (80, 20)]

    # -- removal ---------------------------------------------------------------------------

    async def test_removal_takes_the_item_and_its_index_entry_only_if_shown(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.push([KEPT], [post(10), (30, 20), post(40)])
        await store.remove([KEPT], [(31, 20)])  # another repost of the post: index stays
        assert await shown_by(store, KEPT, 20) == 30
        await store.remove([KEPT], [(30, 20), post(40), post(99)])
        assert await timeline(store, KEPT) == [post(10)]
        assert await shown_by(store, KEPT, 20) is None

    # -- many readers per call ----------------------------------------------------------

    async def test_many_readers_per_call(self, store: TimelineStore) -> None:
        readers = list(range(200, 210))
        for reader in readers[:8]:
            await store.mark_kept(reader, TTL_S)
        await store.push(readers, [post(10), (30, 20)])
        await store.push_each({200: [post(11)], 201: [], 205: [post(12), post(13)],
                               209: [post(14)]})
        for reader in readers[:8]:
            extra = {200: [post(11)], 205: [post(12), post(13)]}.get(reader, [])
            assert await timeline(store, reader) == sorted(
                [post(10), (30, 20), *extra], key=lambda i: i[0]), reader
        assert [await store.is_kept(r) for r in readers[8:]] == [False, False]
        await store.push_each({209: [post(14)]}, only_kept=False)
        assert await timeline(store, 209) == [post(14)]
        await store.remove(readers, [post(10)])
        assert await timeline(store, 203) == [(30, 20)]
        await store.remove(readers, [(30, 20)])
        assert await store.contains([("timeline", r, (30, 20)) for r in readers]) == [
            False] * len(readers)
        assert await store.is_kept(203)  # its kept-marker stays
        assert await timeline(store, 205) == [post(12), post(13)]

    # -- reads of the home query -------------------------------------------------------

    async def test_slices_read_below_one_bound_across_timeline_and_celebrities(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.push([KEPT], [post(10), (30, 20), post(40)])
        for item in (post(15), post(35), (45, 12)):
            await store.add_authored(7, item)
        await store.add_authored(8, post(33))
        assert await store.slices(KEPT, [7, 8], None, 2) == [
            [post(40), (30, 20)], [(45, 12), post(35)], [post(33)]]
        assert await store.slices(KEPT, [7], 40, 10) == [
            [(30, 20), post(10)], [post(35), post(15)]]
        assert await store.slices(KEPT, [], 30, 10) == [[post(10)]]
        assert await store.slices(KEPT, [], 10, 10) == [[]]
        assert await store.slices(AWAY, [8], None, 10) == [[], [post(33)]]

    async def test_reach_finds_every_other_way_to_a_post(self, kept: TimelineStore) -> None:
        store = kept
        await store.record_repost(20, 5, 7, 30)
        await store.record_repost(20, 5, 9, 31)
        await store.push([KEPT], [(30, 20), post(21)])
        found = await store.reach(KEPT, [20, 21, 22], [9, 8, 7])
        assert found == [
            Reach(in_timeline=False, indexed_repost=30, author_id=5,
                  celebrity_reposts=[31, None, 30]),
            Reach(in_timeline=True, indexed_repost=None, author_id=None,
                  celebrity_reposts=[None, None, None]),
            Reach(in_timeline=False, indexed_repost=None, author_id=None,
                  celebrity_reposts=[None, None, None])]
        assert await store.reach(KEPT, [], [7]) == []
        assert await store.reach(AWAY, [20], []) == [
            Reach(in_timeline=False, indexed_repost=None, author_id=5, celebrity_reposts=[])]

    async def test_contains_looks_in_timelines_and_authored_items(
            self, kept: TimelineStore) -> None:
        store = kept
        await store.push([KEPT], [(30, 20)])
        await store.add_authored(7, post(20))
        assert await store.contains([
            ("timeline", KEPT, (30, 20)), ("timeline", KEPT, post(30)),
            ("timeline", AWAY, (30, 20)), ("authored", 7, post(20)),
            ("authored", 7, (30, 20)), ("authored", KEPT, (30, 20))]) == [
            True, False, False, True, False, False]
        assert await store.contains([]) == []

    # -- the follow graph --------------------------------------------------------------

    async def test_follows_count_the_followers_after_each(self, store: TimelineStore) -> None:
        counts = await store.add_follows([(1, 7), (2, 7), (1, 8), (1, 7), (3, 7)])
        assert counts == [1, 2, 1, 2, 3]  # a follow already recorded adds nothing
        assert sorted(await store.followers(7)) == [1, 2, 3]
        assert await store.following_among(1, [7, 8, 9]) == [True, True, False]
        assert await store.following_among(1, []) == []
        assert await store.add_follows([]) == []
        assert await store.remove_follow(2, 7) == 2
        assert await store.remove_follow(2, 7) == 2
        assert await store.following_among(2, [7]) == [False]
        assert sorted(await store.followers(7)) == [1, 3]
        assert await store.remove_follow(1, 8) == 0
        assert await store.followers(8) == []

    # -- celebrities -------------------------------------------------------------------

    async def test_celebrities_are_marked_with_their_item_and_unmarked(
            self, store: TimelineStore) -> None:
        assert await store.celebrities() == []
        await store.mark_celebrity(7, (30, 20))
        await store.mark_celebrity(8, None)
        assert sorted(await store.celebrities()) == [7, 8]
        assert await store.is_celebrity(7) and not await store.is_celebrity(9)
        assert await store.celebrities_among([9, 8, 7]) == [False, True, True]
        assert await store.celebrities_among([]) == []
        assert await store.celebrity_since(7) == (30, 20)
        assert await store.celebrity_since(8) is None
        await store.unmark_celebrity(7)
        assert await store.celebrities() == [8]
        assert await store.celebrity_since(7) is None
        assert not await store.is_celebrity(7)

    # -- authored items ----------------------------------------------------------------

    async def test_authored_items_newest_first_trimmed(self, store: TimelineStore) -> None:
        for item in (post(10), (20, 3), post(30), (40, 4), post(50)):
            await store.add_authored(7, item)
        newest = [post(50), (40, 4), post(30), (20, 3)]  # trimmed to 4
        assert await store.recent_authored(7, 10) == newest
        assert await store.recent_authored(7, 2) == newest[:2]
        assert await store.recent_authored(7, 10, after=(20, 3)) == newest[:3]
        assert await store.recent_authored(7, 10, after=post(30)) == newest[:2]
        assert await store.recent_authored(7, 10, after=post(50)) == []
        assert await store.recent_authored(8, 10) == []
        await store.add_authored(8, post(60))
        assert await store.recent_authored_many([7, 8, 9], 1) == {
            7: [post(50)], 8: [post(60)], 9: []}
        assert await store.recent_authored_many([], 1) == {}
        await store.remove_authored(7, (40, 4))
        assert await store.recent_authored(7, 10) == [post(50), post(30), (20, 3)]

    # -- reposts -------------------------------------------------------------------------

    async def test_reposts_are_recorded_per_post(self, store: TimelineStore) -> None:
        await store.record_repost(20, 5, 7, 30)
        await store.record_repost(20, 5, 8, 31)
        await store.record_repost(21, 6, 7, 32)
        assert await store.reposts_of([20, 21, 22]) == [
            Reposts(5, {7: 30, 8: 31}), Reposts(6, {7: 32}), Reposts(None, {})]
        await store.forget_repost(20, 7)
        await store.forget_repost(21, 7)
        assert await store.reposts_of([20, 21]) == [Reposts(5, {8: 31}), Reposts(6, {})]
        await store.forget_reposts(20)
        assert await store.reposts_of([20]) == [Reposts(None, {})]
        assert await store.reposts_of([]) == []

    # -- tombstones --------------------------------------------------------------------------

    async def test_buried_posts_stay_buried_per_author_and_an_erasure_buries_all(
            self, store: TimelineStore) -> None:
        assert not await store.buried(5, 20)
        await store.bury(5, 20)
        await store.bury(5, 20)  # idempotent
        assert await store.buried(5, 20)
        assert not await store.buried(5, 21)
        assert not await store.buried(6, 20)  # another author's post 20 (ids are per author)
        await store.bury(6, None)
        assert await store.buried(6, 20)
        assert await store.buried(6, 99)
        assert not await store.buried(5, 21)

    async def test_edge_positions_are_per_account_and_edge(self, store: TimelineStore) -> None:
        assert await store.edge_noted(5, "f7") == 0
        await store.note_edge(5, "f7", 40)
        await store.note_edge(5, "r7", 41)
        await store.note_edge(5, "f7", 45)
        assert (await store.edge_noted(5, "f7"), await store.edge_noted(5, "r7")) == (45, 41)
        assert await store.edge_noted(6, "f7") == 0

    # -- reset -----------------------------------------------------------------------------

    async def test_reset_forgets_everything(self, kept: TimelineStore) -> None:
        store = kept
        await store.bury(7, 12)
        await store.note_edge(7, "f8", 3)
        await store.push([KEPT], [post(10)])
        await store.add_authored(7, post(10))
        await store.add_follows([(KEPT, 7)])
        await store.mark_celebrity(8, None)
        await store.record_repost(10, 7, 9, 11)
        await store.advance(5)
        await store.reset()
        assert not await store.is_kept(KEPT)
        assert await store.recent_authored(7, 10) == []
        assert await store.followers(7) == []
        assert await store.following_among(KEPT, [7]) == [False]
        assert await store.celebrities() == []
        assert await store.reposts_of([10]) == [Reposts(None, {})]
        assert not await store.buried(7, 12)
        assert await store.edge_noted(7, "f8") == 0
        assert await store.position() == 0
