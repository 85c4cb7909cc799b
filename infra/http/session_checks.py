"""Whether open streams' tokens may still act, asked together: one Redis round trip.

A live stream asks before each batch of events whether its session has ended or
its account is suspended (``infra.http.streaming.live_events``). A post to
1,000 connected followers wakes 1,000 streams at once; asked one by one, that is
1,000 round trips to Redis for one event (16 % of the API's samples in a
``bench.live`` profile at 1,000 clients). ``SessionChecks`` gathers the
questions asked in the same turn of the event loop and answers them all from
one pipeline (two ``EXISTS`` per distinct session, as ``token_refusal``):
nothing is cached, so an answer is never older than the question.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.redis_keys import RedisKeys
from infra.security import queue_token_refusal, refusal_answer, token_refusal

Session = tuple[str, int]
"""(session id, account id)."""


class SessionChecks:
    """One per API process (``LiveServices.session_checks``); ``refusal`` is
    ``token_refusal``'s answer, shared by the callers of one loop turn."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self._asked: dict[Session, asyncio.Future[str | None]] = {}
        self._round: asyncio.Task[None] | None = None
        self.round_trips = 0
        """Pipelines sent so far (for tests and the curious)."""

    async def refusal(self, session_id: str, account_id: int) -> str | None:
        """``account_suspended``, ``session_ended`` or ``None`` (may still act).

        Raises:
            what the Redis client raises (``RedisError``) when both the shared round
            and this caller's own retry fail.
        """
        session = (session_id, account_id)
        answer = self._asked.get(session)
        if answer is None:
            answer = asyncio.get_running_loop().create_future()
            self._asked[session] = answer
            if self._round is None:
                self._round = asyncio.create_task(self._ask())
        try:
            return await asyncio.shield(answer)
        except RedisError:
            # The shared round failed: ask alone, as a stream did before rounds were
            # shared, so one failed pipeline does not end every stream woken with it.
            return await token_refusal(self.redis, self.keys, session_id, account_id)

    async def _ask(self) -> None:
        asked: dict[Session, asyncio.Future[str | None]] = {}
        try:
            try:
                await asyncio.sleep(0)  # the other streams woken by the same event ask
            finally:  # also when cancelled: the next question starts a new round
                asked, self._asked, self._round = self._asked, {}, None
            async with self.redis.pipeline(transaction=False) as pipe:
                for session_id, account_id in asked:
                    queue_token_refusal(pipe, self.keys, session_id, account_id)
                answers = await pipe.execute()
            self.round_trips += 1
        except Exception as error:
            for future in asked.values():
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # retrieved here: a caller that left asks no more
            return
        except BaseException:  # cancelled (the process stops): so are the questions
            for future in asked.values():
                future.cancel()
            raise
        for index, future in enumerate(asked.values()):
            if not future.done():
                future.set_result(refusal_answer(answers[2 * index:2 * index + 2]))
