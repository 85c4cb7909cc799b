"""The contract of ``ports.page_facts.FactsCache``."""

from __future__ import annotations

import pytest

from ports.errors import DependencyUnavailable
from ports.page_facts import BLOCKED, MUTED, FactKeys, Facts, FactsCache, RepostFact, ShownAccount


def shown(account_id: int, followers: int = 0) -> ShownAccount:
    return ShownAccount(id=account_id, username=f"u{account_id}",
                        display_name="Zo\u00eb \U0001f426", bio="", avatar_url="",
                        created_at="2026-11-25T00:00:00.000Z",
                        followers_count=followers, following_count=2, posts_count=3)


def keys(accounts: tuple[int, ...] = (), reposts: tuple[int, ...] = (),
         liked: tuple[tuple[int, int], ...] = (), reposted: tuple[tuple[int, int], ...] = (),
         hidden: tuple[tuple[int, int], ...] = ()) -> FactKeys:
    return FactKeys(frozenset(accounts), frozenset(reposts), frozenset(liked),
                    frozenset(reposted), frozenset(hidden))


EVERY = keys(accounts=(1, 2, 3), reposts=(10, 11, 12), liked=((1, 7), (1, 8), (2, 7)),
             reposted=((1, 7), (1, 8)), hidden=((1, 2), (1, 3), (1, 4), (2, 1)))


def facts() -> Facts:
    """One value of every kind, ``None`` and false ones included."""
    return Facts(accounts={1: shown(1), 2: None},
                 reposts={10: RepostFact(2, "2026-11-25T01:02:03.004Z"), 11: None},
                 liked={(1, 7): True, (1, 8): False},
                 reposted={(1, 7): False, (1, 8): True},
                 hidden={(1, 2): BLOCKED, (1, 3): MUTED, (1, 4): BLOCKED | MUTED,
                         (2, 1): 0})


class FactsCacheContract:
    """Fixtures: ``cache`` (an empty ``FactsCache``) and ``unreachable`` (one whose store
    is down)."""

    async def test_an_empty_cache_has_nothing(self, cache: FactsCache) -> None:
        assert await cache.get(EVERY) == Facts()
        assert await cache.get(FactKeys()) == Facts()

    async def test_a_fill_is_read_back_none_and_false_included(self, cache: FactsCache
                                                               ) -> None:
        await cache.fill(facts())
        assert await cache.get(EVERY) == facts()
        assert await cache.get(keys(accounts=(2, 3), liked=((1, 8),))) == Facts(
            accounts={2: None}, liked={(1, 8): False})

    async def test_set_facts_is_read_back(self, cache: FactsCache) -> None:
        await cache.set_facts(facts())
        assert await cache.get(EVERY) == facts()

    async def test_a_fill_never_overwrites_what_is_there(self, cache: FactsCache) -> None:
        await cache.set_facts(Facts(accounts={1: shown(1, followers=5)}, reposts={10: None},
                                    liked={(1, 7): False}, hidden={(1, 2): 0}))
        await cache.fill(facts())  # a reader who loaded before the projector's write
        assert await cache.get(EVERY) == Facts(
            accounts={1: shown(1, followers=5), 2: None},
            reposts={10: None, 11: None}, liked={(1, 7): False, (1, 8): False},
            reposted={(1, 7): False, (1, 8): True},
            hidden={(1, 2): 0, (1, 3): MUTED, (1, 4): BLOCKED | MUTED, (2, 1): 0})

    async def test_set_facts_replaces_what_is_there(self, cache: FactsCache) -> None:
        await cache.fill(facts())
        later = RepostFact(3, "2026-11-26T00:00:00.000Z")
        await cache.set_facts(Facts(accounts={1: None, 2: shown(2)}, reposts={10: None, 11: later},
                                    liked={(1, 7): False}, reposted={(1, 8): False},
                                    hidden={(1, 4): MUTED}))
        assert await cache.get(EVERY) == Facts(
            accounts={1: None, 2: shown(2)},
            reposts={10: None, 11: later},
            liked={(1, 7): False, (1, 8): False}, reposted={(1, 7): False, (1, 8): False},
            hidden={(1, 2): BLOCKED, (1, 3): MUTED, (1, 4): MUTED, (2, 1): 0})

    async def test_each_reader_has_its_own_facts(self, cache: FactsCache) -> None:
        await cache.set_facts(Facts(liked={(1, 7): True}, hidden={(1, 2): BLOCKED}))
        assert await cache.get(keys(liked=((2, 7),), hidden=((2, 1),), reposted=((1, 7),))
                               ) == Facts()

    async def test_a_read_returns_a_copy(self, cache: FactsCache) -> None:
        await cache.fill(facts())
        got = await cache.get(EVERY)
        account = got.accounts[1]
        assert account is not None
        account["username"] = "changed"
        got.liked[(1, 7)] = False
        assert await cache.get(EVERY) == facts()

    async def test_a_store_that_is_down_fails_set_facts_as_unavailable(
        self, unreachable: FactsCache,
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            await unreachable.set_facts(facts())
