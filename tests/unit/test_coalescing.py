"""``queries.coalescing``: the reads of one loop turn are one read, and each caller gets
exactly what it asked for."""

from __future__ import annotations

import asyncio

import pytest

from ports.page_facts import FactKeys, Facts, pairs
from queries.coalescing import CoalescingFactsCache, CoalescingPostCache, TurnBatch
from tests.fakes.page_facts import FakeFactsCache
from tests.fakes.post_cache import FakePostCache

POST = 500


async def test_many_readers_facts_in_one_read_each_only_its_own() -> None:
    inner = FakeFactsCache()
    await inner.fill(Facts(
        accounts={1: None},
        liked={(reader, POST): reader % 2 == 0 for reader in range(100)},
        hidden={(reader, 1): 1 for reader in range(0, 100, 7)}))
    cache = CoalescingFactsCache(inner)

    def keys(reader: int) -> FactKeys:
        return FactKeys(accounts=frozenset({1}), liked=pairs(reader, [POST]),
                        hidden=pairs(reader, [1]))

    together = await asyncio.gather(*(cache.get(keys(r)) for r in range(100)))
    assert inner.gets == 1
    assert together == [await inner.get(keys(r)) for r in range(100)]
    assert all(set(facts.liked) == {(r, POST)} for r, facts in enumerate(together))


async def test_many_readers_counts_and_bodies_in_one_read_each_only_its_own() -> None:
    inner = FakePostCache()
    await inner.fill({i: {"id": i} for i in range(10)},  # type: ignore[typeddict-item]
                     {i: {"likes_count": i, "replies_count": 0, "reposts_count": 0,
                          "deleted": 0} for i in range(10)})
    reads = 0
    get_many = inner.get_many

    async def counted(post_ids: list[int], bodies_needed: list[int]) -> object:
        nonlocal reads
        reads += 1
        return await get_many(post_ids, bodies_needed)

    inner.get_many = counted  # type: ignore[assignment,method-assign]
    cache = CoalescingPostCache(inner)
    asked = [([i, i + 1], [i]) for i in range(8)]
    together = await asyncio.gather(*(cache.get_many(ids, needed) for ids, needed in asked))
    assert reads == 1
    inner.get_many = get_many  # type: ignore[method-assign]
    assert together == [await inner.get_many(ids, needed) for ids, needed in asked]


async def test_a_failed_round_fails_its_callers_and_the_next_round_works() -> None:
    inner = FakeFactsCache()
    cache = CoalescingFactsCache(inner)
    inner.unavailable = True
    results = await asyncio.gather(*(cache.get(FactKeys(accounts=frozenset({i})))
                                     for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    inner.unavailable = False
    assert await cache.get(FactKeys(accounts=frozenset({1}))) == Facts()
    assert cache.batch.rounds == 2


async def test_rounds_do_not_span_turns() -> None:
    seen: list[list[int]] = []

    async def run(asked: list[int]) -> int:
        seen.append(asked)
        return len(asked)

    batch: TurnBatch[int, int] = TurnBatch(run)
    assert list(await asyncio.gather(batch.ask(1), batch.ask(2))) == [2, 2]
    assert await batch.ask(3) == 1
    assert seen == [[1, 2], [3]]


async def test_a_caller_that_leaves_leaves_the_round_to_the_others() -> None:
    gate = asyncio.Event()

    async def run(asked: list[int]) -> int:
        await gate.wait()
        return sum(asked)

    batch: TurnBatch[int, int] = TurnBatch(run)
    leaving, staying = (asyncio.create_task(batch.ask(n)) for n in (1, 2))
    await asyncio.sleep(0)  # both have asked (a yield, not a wait)
    leaving.cancel()
    gate.set()
    assert await staying == 3
    with pytest.raises(asyncio.CancelledError):
        await leaving
