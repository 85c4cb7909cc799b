"""Hybrid fan-out: celebrities pulled at read time, kept timelines, exact paging."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import redis

from commands.bus import CommandBus
from commands.messages import Actor, CreatePost
from domain.ids import SnowflakeGenerator
from infra.bootstrap import build_command_bus, close_command_bus
from infra.redis_clients import build_sync_redis
from infra.redis_keys import RedisKeys, member
from tests.e2e.conftest import CELEBRITY_THRESHOLD, User, position
from tests.e2e.stack import Stack


def redis_client(stack: Stack) -> redis.Redis:
    return build_sync_redis(stack.settings)


def test_celebrity_posts_are_pulled_not_pushed(signup: Callable[..., User], stack: Stack
                                               ) -> None:
    star = signup("celeb")
    fans = [signup("fan") for _ in range(CELEBRITY_THRESHOLD + 1)]
    for fan in fans:
        fan.home()  # active readers: their timelines are kept
        at = fan.follow(star)
    post, at = star.post("to the crowd")
    keys = RedisKeys(stack.settings.redis_prefix)
    client = redis_client(stack)
    assert fans[0].home_ids(at) == [post["id"]]
    assert client.zscore(keys.home(int(fans[0].id)), member(int(post["id"]))) is None
    assert client.sismember(keys.celebrities(), star.id)


def test_crossing_the_threshold_both_ways_keeps_timelines_complete(
    signup: Callable[..., User], stack: Stack
) -> None:
    author = signup("riser")
    fans = [signup("fan") for _ in range(CELEBRITY_THRESHOLD + 1)]
    posted: list[str] = []
    for fan in fans[:CELEBRITY_THRESHOLD]:
        fan.home()
        fan.follow(author)
    posted.append(author.post("pushed before")[0]["id"])
    fans[-1].home()
    fans[-1].follow(author)  # above the threshold: now a celebrity
    posted.append(author.post("pulled while famous")[0]["id"])
    last, at = author.post("pulled again")
    posted.append(last["id"])
    expected = list(reversed(posted))
    for fan in fans:
        assert fan.home_ids(at) == expected
    at = position(fans[-1].act("DELETE", f"/api/accounts/{author.username}/follow"))
    keys = RedisKeys(stack.settings.redis_prefix)
    client = redis_client(stack)
    assert fans[0].home_ids(at) == expected
    assert not client.sismember(keys.celebrities(), author.id)
    # The posts pulled while famous were pushed on the way down.
    for fan in fans[:CELEBRITY_THRESHOLD]:
        assert client.zscore(keys.home(int(fan.id)), member(int(posted[1]))) is not None
    again, at = author.post("pushed again")
    posted.append(again["id"])
    for fan in fans[:CELEBRITY_THRESHOLD]:
        assert fan.home_ids(at) == list(reversed(posted))
    assert fans[-1].home_ids(at) == []


def test_a_returning_reader_gets_a_rebuilt_timeline(signup: Callable[..., User], stack: Stack
                                                   ) -> None:
    author, reader = signup("cold"), signup("back")
    reader.follow(author)
    ids = [author.post(f"while away {n}")[0]["id"] for n in range(5)]
    _, at = author.post("last")
    warm = reader.home_ids(at)
    keys = RedisKeys(stack.settings.redis_prefix)
    redis_client(stack).delete(keys.home(int(reader.id)), keys.home_index(int(reader.id)))
    assert reader.home_ids(at) == warm
    assert set(ids) <= set(warm)


def test_paging_a_thousand_posts_made_within_milliseconds(
    signup: Callable[..., User], stack: Stack
) -> None:
    author, reader = signup("burst"), signup("pager")
    reader.home()
    reader.follow(author)
    real_bus = build_command_bus(stack.settings)
    frozen_ms = time.time_ns() // 1_000_000
    # A node of its own with a stopped clock: every id falls in the same millisecond
    # or the next few (the 12-bit sequence borrows the next one after 4,096).
    bus = CommandBus(replace(real_bus.context,
                             ids=SnowflakeGenerator(1023, clock_ms=lambda: frozen_ms)))
    actor = Actor(int(author.id), author.username, os.urandom(16).hex())
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(
                lambda n: bus.handle(CreatePost(actor, f"post {n}")), range(1000)))
    finally:
        close_command_bus(real_bus)
    ids = sorted((r.data["id"] for r in results), reverse=True)
    stamps = {i >> 22 for i in ids}
    assert len(stamps) == 1  # all within one millisecond
    last = max(r.position for r in results)
    for limit in (100, 37):
        assert reader.home_ids(last, limit=limit) == [str(i) for i in ids]
