"""Whether open streams' tokens may still act, asked together: one Redis round trip.

A live stream asks before each batch of events whether its session has ended or
its account is suspended (``infra.http.streaming.live_events``). A post to
1,000 connected followers wakes 1,000 streams at once; asked one by one, that is
1,000 round trips to Redis for one event (16 % of the API's samples in a
``bench.live`` profile at 1,000 clients). ``SessionChecks`` gathers the
questions asked in the same turn of the event loop (``queries.coalescing.TurnBatch``)
and answers them all from one pipeline (two ``EXISTS`` per distinct session, as
``token_refusal``): nothing is cached, so an answer is never older than the
question.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from infra.redis_keys import RedisKeys
from infra.security import queue_token_refusal, refusal_answer, token_refusal
from queries.coalescing import TurnBatch

Session = tuple[str, int]
"""(session id, account id)."""


class SessionChecks:
    """One per API process (``LiveServices.session_checks``); ``refusal`` is
    ``token_refusal``'s answer, shared by the callers of one loop turn."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys
        self.batch: TurnBatch[Session, dict[Session, str | None]] = TurnBatch(self._ask)

    @property
    def round_trips(self) -> int:
        """Shared rounds so far (for tests and the curious)."""
        return self.batch.rounds

    async def refusal(self, session_id: str, account_id: int) -> str | None:
        """``account_suspended``, ``session_ended`` or ``None`` (may still act).

        Raises:
            what the Redis client raises (``RedisError``) when both the shared round
            and this caller's own retry fail.
        """
        session = (session_id, account_id)
        try:
            return (await self.batch.ask(session))[session]
        except RedisError:
            # The shared round failed: ask alone, as a stream did before rounds were
            # shared, so one failed pipeline does not end every stream woken with it.
            return await token_refusal(self.redis, self.keys, session_id, account_id)

    async def _ask(self, asked: list[Session]) -> dict[Session, str | None]:
        sessions = list(dict.fromkeys(asked))
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id, account_id in sessions:
                queue_token_refusal(pipe, self.keys, session_id, account_id)
            answers = await pipe.execute()
        return {session: refusal_answer(answers[2 * i:2 * i + 2])
                for i, session in enumerate(sessions)}
