"""Trending tags through the running stack: the scenario of issue 11. A tag used by 10
accounts in the last hour trends; a tag used 100 times by 2 accounts does not, nor does
a tag used at the same rate for the last 24 hours (its posts are written straight into
the event store at their times: a post made through the API is always "now")."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import psycopg

from domain.ids import EPOCH_MS, NODE_BITS, SEQUENCE_BITS, post_uuid
from infra.redis_clients import build_async_redis
from infra.redis_keys import RedisKeys
from infra.trend_counters import RedisTrendCounters
from ports.trends import HOUR_S, TagWindow
from tests.e2e.conftest import User, unique_name
from tests.e2e.stack import Stack


def _past_posts(stack: Stack, posts: list[tuple[User, str, str, float]]) -> int:
    """Append ``(author, text, tag, unix seconds)`` as PostCreated events at their times;
    the last position."""
    rng = random.Random(7)
    last = 0
    with psycopg.connect(stack.settings.postgres_conninfo, autocommit=True) as conn:
        for author, text, tag, at in posts:
            moment = datetime.fromtimestamp(at, UTC)
            post_id = ((int(at * 1000) - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS)) | \
                rng.randrange(2 ** (NODE_BITS + SEQUENCE_BITS))
            state = {"timestamp": {"_type_": "datetime_iso", "_data_": moment.isoformat()},
                     "originator_topic": "domain.posts:Post", "post_id": post_id,
                     "author_id": int(author.id), "author_username": author.username,
                     "text": text, "mentions": [], "hashtags": [tag], "reply_to_id": None,
                     "quote_of_id": None}
            row = conn.execute(
                "INSERT INTO roost_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, 1, 'domain.posts:Post.PostCreated', %s) RETURNING notification_id",
                (post_uuid(post_id), json.dumps(state).encode())).fetchone()
            assert row is not None
            last = max(last, int(row[0]))
    return last


def _counted(stack: Stack, tags: list[str]) -> dict[str, TagWindow]:
    """What the trends projector counted for ``tags`` in the last hour, read from Redis."""
    async def read() -> list[TagWindow]:
        client = build_async_redis(stack.settings)
        try:
            counters = RedisTrendCounters(client, RedisKeys(stack.settings.redis_prefix))
            return await counters.windows(tags, int(time.time()), HOUR_S)
        finally:
            await client.aclose()

    return {window.tag: window for window in asyncio.run(read())}


def test_ten_accounts_trend_above_two_accounts_posting_a_hundred_times_and_a_steady_tag(
    stack: Stack, signup: Callable[..., User], client: httpx.Client,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    surge, spam, steady = f"surge{suffix}", f"spam{suffix}", f"steady{suffix}"
    at = 0
    for i in range(10):
        _, at = signup(unique_name("surger")).post(f"it starts {i} #{surge}")
    spammers = [signup("spammer"), signup("spammer")]
    for i in range(100):
        _, at = spammers[i % 2].post(f"buy {i} #{spam}")
    regulars = [signup("regular") for _ in range(8)]
    now = time.time()
    at = max(at, _past_posts(stack, [
        (regulars[n % 8], f"as usual {n} #{steady}", steady, now - 30 - n * 600)
        for n in range(6 * 25)]))  # six an hour, for 25 hours up to now

    answer = client.get("/api/trends/tags", params={"window": "1h"},
                        headers={"Roost-Min-Position": str(at)})
    assert answer.status_code == 200, answer.text
    assert answer.headers.get("Roost-Stale") is None
    trends = {t["tag"]: t for t in answer.json()}
    assert trends[surge]["accounts_count"] == 10 and trends[surge]["posts_count"] == 10
    assert trends[surge]["score"] > 0
    assert spam not in trends  # two accounts, however many posts
    assert steady not in trends or trends[steady]["score"] < trends[surge]["score"]
    ranked = [t["tag"] for t in answer.json()]
    assert ranked.index(surge) < min(ranked.index(t) if t in ranked else len(ranked)
                                     for t in (spam, steady))
    # Both others were counted, and are left out for the reason the scoring gives:
    # #spam has ten times #surge's volume but two authors; #steady has the authors
    # but its own baseline expects as much as it got.
    counted = _counted(stack, [surge, spam, steady])
    assert counted[spam].posts == 100 and counted[spam].authors == 2
    assert counted[spam].volume > 5 * counted[surge].volume
    assert counted[steady].authors >= 5 and counted[steady].posts >= 5
    assert max(counted[steady].baseline_day, counted[steady].baseline_week) > 0
    day = {t["tag"]: t for t in client.get("/api/trends/tags", params={"window": "24h"}).json()}
    assert day[steady]["posts_count"] >= 6 * 23  # over a day, against the day before, it rose
    assert client.get("/api/trends/tags", params={"window": "4h"}).status_code == 200
    wrong = client.get("/api/trends/tags", params={"window": "2h"})
    assert wrong.status_code == 422 and "window" in wrong.json()["error"]["details"]["fields"]
