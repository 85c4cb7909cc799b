"""Many readers' questions to a cache, asked in one turn of the event loop, sent as one.

A live event reaches every connected stream of a process at once: a post to 1,000
connected followers wakes 1,000 renders, each asking the post cache for the
post's counts and the facts cache for its reader's facts (``queries.live``,
through ``queries.hydration``). Asked one by one that is two round trips per
stream; gathered per loop turn (``TurnBatch``) it is two per event. The answers
are the caches' own, read after the questions were asked: nothing is kept
between turns.

``CoalescingFactsCache`` and ``CoalescingPostCache`` wrap the caches' ports for
the streams' renderers (``infra.http.streaming.stream_renderers``); each caller
gets exactly what it asked for, never another reader's facts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Generic, TypeVar

from ports.page_facts import FactKeys, Facts, FactsCache
from ports.post_cache import Counts, PostBody, PostCache

Q = TypeVar("Q")
A = TypeVar("A")


class TurnBatch(Generic[Q, A]):
    """``ask(question)``: ``run(questions)``'s answer for every question asked in the
    same loop turn (one ``run`` per turn, the questions in the order asked)."""

    def __init__(self, run: Callable[[list[Q]], Awaitable[A]]) -> None:
        self.run = run
        self._questions: list[Q] = []
        self._answer: asyncio.Future[A] | None = None
        self.rounds = 0
        """``run`` calls so far (tests, the curious)."""

    async def ask(self, question: Q) -> A:
        """Raises what ``run`` raises, to every caller of its turn."""
        if self._answer is None:
            self._answer = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._round(self._answer))
        answer = self._answer
        self._questions.append(question)
        return await asyncio.shield(answer)

    async def _round(self, answer: asyncio.Future[A]) -> None:
        try:
            try:
                await asyncio.sleep(0)  # the others woken in this turn ask meanwhile
            finally:  # also when cancelled: the next question starts a new round
                questions, self._questions, self._answer = self._questions, [], None
            self.rounds += 1
            result = await self.run(questions)
        except Exception as error:
            answer.set_exception(error)
            answer.exception()  # retrieved here: a caller that left asks no more
            return
        except BaseException:
            answer.cancel()
            raise
        answer.set_result(result)


def _union(keys: Sequence[FactKeys]) -> FactKeys:
    return FactKeys(
        accounts=frozenset().union(*(k.accounts for k in keys)),
        reposts=frozenset().union(*(k.reposts for k in keys)),
        liked=frozenset().union(*(k.liked for k in keys)),
        reposted=frozenset().union(*(k.reposted for k in keys)),
        hidden=frozenset().union(*(k.hidden for k in keys)))


def _restricted(facts: Facts, keys: FactKeys) -> Facts:
    """The facts of ``facts`` that ``keys`` asks for, and no other."""
    return Facts(
        accounts={i: facts.accounts[i] for i in keys.accounts if i in facts.accounts},
        reposts={i: facts.reposts[i] for i in keys.reposts if i in facts.reposts},
        liked={p: facts.liked[p] for p in keys.liked if p in facts.liked},
        reposted={p: facts.reposted[p] for p in keys.reposted if p in facts.reposted},
        hidden={p: facts.hidden[p] for p in keys.hidden if p in facts.hidden})


class CoalescingFactsCache:
    """``FactsCache`` whose reads of one loop turn are one read of ``inner``."""

    def __init__(self, inner: FactsCache) -> None:
        self.inner = inner
        self.batch: TurnBatch[FactKeys, Facts] = TurnBatch(
            lambda asked: inner.get(_union(asked)))

    async def get(self, keys: FactKeys) -> Facts:
        return _restricted(await self.batch.ask(keys), keys)

    async def fill(self, facts: Facts) -> None:
        await self.inner.fill(facts)

    async def set_facts(self, facts: Facts) -> None:
        await self.inner.set_facts(facts)


Read = tuple[Sequence[int], Sequence[int]]
"""``get_many``'s question: (posts whose counts, posts whose bodies)."""
Found = tuple[dict[int, PostBody], dict[int, Counts]]


class CoalescingPostCache:
    """``PostCache`` whose reads of one loop turn are one read of ``inner``."""

    def __init__(self, inner: PostCache) -> None:
        self.inner = inner

        async def read(asked: list[Read]) -> Found:
            counts = sorted({i for ids, _ in asked for i in ids})
            bodies = sorted({i for _, needed in asked for i in needed})
            return await inner.get_many(counts, bodies)

        self.batch: TurnBatch[Read, Found] = TurnBatch(read)

    async def get_many(self, post_ids: Sequence[int], bodies_needed: Sequence[int]
                       ) -> Found:
        bodies, counts = await self.batch.ask((post_ids, bodies_needed))
        return ({i: bodies[i] for i in bodies_needed if i in bodies},
                {i: counts[i] for i in post_ids if i in counts})

    async def fill(self, bodies: Mapping[int, PostBody], counts: Mapping[int, Counts]
                   ) -> None:
        await self.inner.fill(bodies, counts)

    async def set_counts(self, counts: Mapping[int, Counts]) -> None:
        await self.inner.set_counts(counts)
