"""``SessionChecks``: many streams' session questions in one Redis round trip, each
answered exactly as ``token_refusal`` answers it alone."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError

from infra import devstack
from infra.http.session_checks import SessionChecks
from infra.redis_keys import RedisKeys
from infra.security import token_refusal


async def test_questions_of_one_turn_share_one_round_trip_and_match_token_refusal(
    redis_client: aredis.Redis, keys: RedisKeys,
) -> None:
    sessions = [(f"s{n}", n) for n in range(300)]
    for session_id, account_id in sessions:
        if account_id % 3 == 0:
            await redis_client.set(keys.revoked_session(session_id), 1)
        if account_id % 5 == 0:
            await redis_client.set(keys.suspended_account(account_id), 1)
    checks = SessionChecks(redis_client, keys)
    asked = sessions + sessions[:50]  # the same session asked twice, in the same turn
    answers = await asyncio.gather(*(checks.refusal(s, a) for s, a in asked))
    alone = [await token_refusal(redis_client, keys, s, a) for s, a in asked]
    assert answers == alone
    assert {"account_suspended", "session_ended", None} == set(answers)
    assert checks.round_trips == 1


async def test_nothing_is_cached_a_later_question_sees_a_later_logout(
    redis_client: aredis.Redis, keys: RedisKeys,
) -> None:
    checks = SessionChecks(redis_client, keys)
    assert await checks.refusal("later", 7) is None
    await redis_client.set(keys.revoked_session("later"), 1)
    assert await checks.refusal("later", 7) == "session_ended"
    await redis_client.set(keys.suspended_account(7), 1)
    assert await checks.refusal("later", 7) == "account_suspended"
    assert checks.round_trips == 3


async def test_a_failed_round_fails_each_question_and_the_next_round_works(
    redis_client: aredis.Redis, keys: RedisKeys,
) -> None:
    down = aredis.Redis(port=devstack.free_port(), socket_connect_timeout=1)
    checks = SessionChecks(down, keys)
    results = await asyncio.gather(*(checks.refusal(f"x{n}", n) for n in range(20)),
                                   return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError) for r in results)
    await down.aclose()
    checks.redis = redis_client  # Redis is back
    assert await checks.refusal("x1", 1) is None


async def test_a_caller_that_leaves_does_not_cancel_the_others(
    redis_client: aredis.Redis, keys: RedisKeys,
) -> None:
    checks = SessionChecks(redis_client, keys)
    leaving = asyncio.create_task(checks.refusal("shared", 1))
    staying = asyncio.create_task(checks.refusal("shared", 1))
    await asyncio.sleep(0)  # both have asked
    leaving.cancel()
    assert await staying is None
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_after_a_failed_round_each_caller_asks_alone(
    redis_client: aredis.Redis, keys: RedisKeys, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One failed pipeline (a dropped connection) does not end every stream woken with
    it: each asks again on its own."""
    await redis_client.set(keys.revoked_session("gone"), 1)
    checks = SessionChecks(redis_client, keys)
    pipeline = redis_client.pipeline
    failed: list[bool] = []

    def failing_once(transaction: bool = True, shard_hint: str | None = None) -> object:
        if not failed:
            failed.append(True)
            raise RedisConnectionError("dropped")
        return pipeline(transaction, shard_hint)

    monkeypatch.setattr(redis_client, "pipeline", failing_once)
    answers = await asyncio.gather(checks.refusal("gone", 1), checks.refusal("here", 2))
    assert failed
    assert list(answers) == ["session_ended", None]
