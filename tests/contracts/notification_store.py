"""What every ``ports.notifications.NotificationStore`` does, whatever keeps it.

``NotificationStoreContract`` is subclassed per implementation: the in-memory
fake (``tests/unit/test_store_contracts.py``) and the PostgreSQL + Redis
adapter (``tests/integration/test_store_contracts.py``), which
provide the ``store`` fixture and ``forget_cache`` (the real adapter drops its
Redis hashes, so each read is checked both ways).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.notifications import DEFAULT_PREFERENCES, NOTIFICATION_TYPES
from ports.notifications import NotificationStore, NotificationWrites, StoredGroup

ALL = NOTIFICATION_TYPES
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
R, S = 1001, 1002  # recipients


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def like(tx: NotificationWrites, group: int, account: int, position: int,
               post: int = 500, recipient: int = R) -> bool:
    return await tx.add_member(recipient, group, "like", post, account, at(position), position)


async def like_group(tx: NotificationWrites, position: int, account: int, post: int = 500,
                     recipient: int = R) -> bool:
    return await tx.create_group(recipient, position, "like", post, post, account,
                                 at(position), position)


async def reply(tx: NotificationWrites, position: int, account: int, recipient: int = R
                ) -> bool:
    post = 9000 + position
    return await tx.create_group(recipient, position, "reply", post, post, account,
                                 at(position), position)


class NotificationStoreContract:
    """The contract; subclasses give ``store`` and may override ``forget_cache``."""

    async def forget_cache(self, store: Any) -> None:
        """Drop whatever the implementation caches (nothing, for the fake)."""

    async def both_ways(self, store: NotificationStore, recipient: int = R,
                        **query: Any) -> list[StoredGroup]:
        """``groups(...)`` read as stored, then again with the cache dropped: equal."""
        query = {"before": None, "limit": 20, "kinds": ALL, "hidden": (), **query}
        first = await store.groups(recipient, **query)
        await self.forget_cache(store)
        assert await store.groups(recipient, **query) == first
        return first

    async def test_position_moves_with_a_batch_and_only_forward(
            self, store: NotificationStore) -> None:
        assert await store.position() == 0
        async with store.writes() as tx:
            assert await tx.position() == 0
            await tx.set_position(7)
        assert await store.position() == 7
        await store.advance(5)
        assert await store.position() == 7
        await store.advance(9)
        assert await store.position() == 9

    async def test_a_failing_batch_writes_nothing(self, store: NotificationStore) -> None:
        with pytest.raises(RuntimeError):
            async with store.writes() as tx:
                await like_group(tx, 10, 1)
                await tx.set_position(10)
                raise RuntimeError("the batch fails")
        assert await store.position() == 0
        assert await self.both_ways(store) == []

    async def test_a_group_grows_newest_first_with_an_exact_count(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            assert await like_group(tx, 10, 1)
            for position in range(11, 30):
                assert await like(tx, 10, position - 9, position)
            assert not await like(tx, 10, 5, 31)  # already a member: nothing changes
            assert not await like_group(tx, 32, 5)  # nor as a new group
        [group] = await self.both_ways(store)
        assert group == StoredGroup(
            group_id=10, kind="like", post_id=500, account_ids=(20, 19, 18, 17, 16, 15, 14, 13),
            accounts_count=20, latest_at="2026-11-30T08:29:00.000Z", sort_key=29, read=False)
        assert await store.group(R, 10, ()) == group

    async def test_the_open_group_is_the_newest_of_its_target(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            assert await tx.open_group(R, "like", 500) is None
            await like_group(tx, 10, 1)
            await like_group(tx, 20, 2)
            await like_group(tx, 30, 3, post=600)
            opened = await tx.open_group(R, "like", 500)
            assert opened is not None and (opened.group_id, opened.first_at) == (20, at(20))
            assert await tx.open_group(R, "repost", 500) is None
            assert await tx.open_group(S, "like", 500) is None

    async def test_removing_members_recounts_moves_back_and_empties(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            await like_group(tx, 10, 1)
            await like(tx, 10, 2, 12)
            await reply(tx, 13, 7)  # another group, between the likes
            await like(tx, 10, 3, 14)
        assert [g.group_id for g in await self.both_ways(store)] == [10, 13]
        async with store.writes() as tx:
            await tx.remove_member(R, "like", 500, 3)  # the newest
            await tx.remove_member(R, "like", 500, 99)  # never a member: nothing
        groups = await self.both_ways(store)
        assert [(g.group_id, g.account_ids, g.accounts_count, g.sort_key) for g in groups] == [
            (13, (7,), 1, 13), (10, (2, 1), 2, 12)]
        assert groups[1].latest_at == "2026-11-30T08:12:00.000Z"
        async with store.writes() as tx:
            await tx.remove_member(R, "like", 500, 1)
            await tx.remove_member(R, "like", 500, 2)
            assert await tx.open_group(R, "like", 500) is None
        assert [g.group_id for g in await self.both_ways(store)] == [13]
        assert await store.group(R, 10, ()) is None

    async def test_an_account_leaves_every_group_of_one_recipient(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            await like_group(tx, 10, 1)
            await like(tx, 10, 2, 11)
            await reply(tx, 12, 2)
            await like_group(tx, 13, 2, recipient=S)
            await tx.remove_account(R, 2)
        assert [(g.group_id, g.account_ids) for g in await self.both_ways(store)] == [
            (10, (1,))]
        assert [g.group_id for g in await self.both_ways(store, S)] == [13]

    async def test_a_deleted_post_takes_its_groups_for_everyone(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            await like_group(tx, 10, 1)
            await like_group(tx, 11, 1, recipient=S)
            await like_group(tx, 12, 1, post=600)
            await tx.remove_post(500)
            assert await tx.open_group(R, "like", 500) is None
        assert [g.group_id for g in await self.both_ways(store)] == [12]
        assert await self.both_ways(store, S) == []
        async with store.writes() as tx:  # the members went too: the account may come back
            assert await like_group(tx, 20, 1)

    async def test_an_erased_account_leaves_every_group_of_everyone_and_its_own_go(
            self, store: NotificationStore) -> None:
        """Account 2 (author of post 700, recipient S) is erased: it leaves R's like
        group, the group about its post goes, its own groups go, its name and its
        post are forgotten."""
        async with store.writes() as tx:
            await tx.remember_account(2, "Erased")
            await tx.remember_post(700, 2)
            await like_group(tx, 10, 1)
            await like(tx, 10, 2, 11)
            await like_group(tx, 12, 3, post=700)  # about its post
            await like_group(tx, 13, 1, recipient=2)  # its own
            await like_group(tx, 14, 2, recipient=S)
            await tx.erase_account(2)
            assert await tx.account_ids(["erased"]) == {}
            assert await tx.post_author(700) is None
        assert [(g.group_id, g.account_ids, g.accounts_count)
                for g in await self.both_ways(store)] == [(10, (1,), 1)]
        assert await self.both_ways(store, S) == []
        assert await self.both_ways(store, 2) == []

    async def test_read_marks_up_to_a_group_and_by_id(self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            for position in (10, 20, 30, 40):
                await reply(tx, position, 1)
            await like_group(tx, 50, 1)
            await like(tx, 50, 2, 60)
            await tx.mark_read(R, 20, [])
        assert [(g.group_id, g.read) for g in await self.both_ways(store)] == [
            (50, False), (40, False), (30, False), (20, True), (10, True)]
        assert (await store.summary(R)).unread == {"reply": 2, "like": 1}
        async with store.writes() as tx:
            await tx.mark_read(R, None, [40, 123456, 2**63 - 1])
            await tx.mark_read(S, 50, [])  # not S's group: nothing for R
        assert [g.group_id for g in await self.both_ways(store) if not g.read] == [50, 30]
        async with store.writes() as tx:  # a group read, then joined: unread again
            await tx.mark_read(R, 50, [])
            assert (await tx.open_group(R, "like", 500)) is not None
            await like(tx, 50, 3, 70)
            await tx.mark_read(R, 35, [])  # no such group: up to that position
        assert [(g.group_id, g.read) for g in await self.both_ways(store)] == [
            (50, False), (40, True), (30, True), (20, True), (10, True)]
        await self.forget_cache(store)
        assert (await store.summary(R)).unread == {"like": 1}

    async def test_preferences_default_and_the_newest_version_wins(
            self, store: NotificationStore) -> None:
        assert (await store.summary(R)).preferences == DEFAULT_PREFERENCES
        wanted = {**DEFAULT_PREFERENCES, "like": "off", "follow": "following"}
        async with store.writes() as tx:
            assert await tx.preferences(R) == DEFAULT_PREFERENCES
            await tx.set_preferences(R, wanted, 2)
            assert await tx.preferences(R) == wanted
            await tx.set_preferences(R, DEFAULT_PREFERENCES, 1)  # older: ignored
            assert await tx.preferences(R) == wanted
        assert (await store.summary(R)).preferences == wanted
        await self.forget_cache(store)
        assert (await store.summary(R)).preferences == wanted
        assert (await store.summary(S)).preferences == DEFAULT_PREFERENCES

    async def test_trim_keeps_the_newest_groups(self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            for position in range(10, 16):
                await reply(tx, position, 1)
            await like_group(tx, 16, 1)
            await like(tx, 16, 2, 17)
            await like_group(tx, 5, 3, post=700)  # old
            await like(tx, 5, 4, 18)  # but joined lately: among the newest
            await tx.trim(R, 3)
        assert [g.group_id for g in await self.both_ways(store)] == [5, 16, 15]
        async with store.writes() as tx:
            assert await tx.open_group(R, "reply", 9010) is None

    async def test_pages_by_sort_key_filter_types_and_hide_accounts(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            await like_group(tx, 10, 1)
            await like(tx, 10, 2, 11)
            await reply(tx, 12, 2)
            await reply(tx, 13, 3)
            await tx.create_group(R, 14, "follow", R, None, 4, at(14), 14)
        everything = await self.both_ways(store)
        assert [g.group_id for g in everything] == [14, 13, 12, 10]
        assert [g.group_id for g in await self.both_ways(store, limit=2)] == [14, 13]
        assert [g.group_id for g in await self.both_ways(store, before=13, limit=2)] == [12, 10]
        assert [g.group_id for g in await self.both_ways(store, kinds=("reply", "follow"))] == [
            14, 13, 12]
        assert await self.both_ways(store, kinds=()) == []
        hidden = await self.both_ways(store, hidden=(2,))
        assert [(g.group_id, g.account_ids, g.accounts_count) for g in hidden] == [
            (14, (4,), 1), (13, (3,), 1), (10, (1,), 1)]
        assert await store.group(R, 12, (2,)) is None
        assert (await store.group(R, 10, (2, 7))).accounts_count == 1  # type: ignore[union-attr]
        assert await store.group(R, 99, ()) is None
        assert await store.group(S, 10, ()) is None

    async def test_what_the_projection_keeps_of_the_graph(self, store: NotificationStore
                                                          ) -> None:
        async with store.writes() as tx:
            await tx.remember_account(7, "Alice")
            await tx.remember_account(8, "bob")
            assert await tx.account_ids(["ALICE", "bob", "carol"]) == {"alice": 7, "bob": 8}
            await tx.remember_post(70, 7)
            assert await tx.post_author(70) == 7
            assert await tx.post_author(71) is None
            await tx.forget_post(70, 7)
            await tx.remember_post(70, 7)  # a replayed creation does not bring it back
            assert await tx.post_author(70) is None
            relation = await tx.relation(7, 8)
            assert (relation.blocked, relation.muted, relation.following) == (
                False, False, False)
            await tx.set_edge("follow", 7, 8, True, 1)
            await tx.set_edge("mute", 7, 8, True, 1)
            await tx.set_edge("block", 8, 7, True, 1)
            relation = await tx.relation(7, 8)
            assert (relation.blocked, relation.muted, relation.following) == (True, True, True)
            other_way = await tx.relation(8, 7)
            assert (other_way.blocked, other_way.muted, other_way.following) == (
                True, False, False)
            await tx.set_edge("block", 8, 7, False, 2)
            await tx.set_edge("block", 8, 7, True, 1)  # older: ignored
            assert not (await tx.relation(7, 8)).blocked

    async def test_reset_forgets_everything(self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            await like_group(tx, 10, 1)
            await tx.remember_account(7, "alice")
            await tx.set_preferences(R, {**DEFAULT_PREFERENCES, "like": "off"}, 1)
            await tx.set_position(10)
        await store.reset()
        assert await store.position() == 0
        assert await store.groups(R, before=None, limit=20, kinds=ALL, hidden=()) == []
        assert (await store.summary(R)).preferences == DEFAULT_PREFERENCES
        async with store.writes() as tx:
            assert await tx.account_ids(["alice"]) == {}

    async def test_a_large_group_lists_eight_and_counts_all(
            self, store: NotificationStore) -> None:
        async with store.writes() as tx:
            await like_group(tx, 10, 1)
            for account in range(2, 1001):
                await like(tx, 10, account, 10 + account)
        [group] = await self.both_ways(store)
        assert group.accounts_count == 1000
        assert group.account_ids == tuple(range(1000, 992, -1))
        assert (await store.summary(R)).unread == {"like": 1}
