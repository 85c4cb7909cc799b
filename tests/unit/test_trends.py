"""Trends on the in-memory counters: what a post counts for (``projections.trends``) and
how tags are scored (``queries.trends``), including the manipulations they resist."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import pytest

from domain.ids import EPOCH_MS, NODE_BITS, SEQUENCE_BITS
from infra.trend_counters import FINE_TTL_S, outlived
from ports.events import EventEnvelope
from ports.trends import BUCKET_S, DAY_S, HOUR_S, TagWindow
from projections.trends import TrendsProjector, account_weight, tag_uses, text_key
from queries.trends import trend_score, trending_tags
from tests.fakes.trends import MemoryTrendCounters

NOW = 1_775_001_600
DAY_MS = 86_400_000
_positions = count(1)


def account(created_days_before_now: float, n: int = 0) -> int:
    """A Snowflake account id made ``created_days_before_now`` days before NOW."""
    ms = NOW * 1000 - int(created_days_before_now * DAY_MS) - EPOCH_MS
    return (ms << (NODE_BITS + SEQUENCE_BITS)) | n


def posted(author: int, text: str, tags: list[str], ago_s: int) -> EventEnvelope:
    at = datetime.fromtimestamp(NOW - ago_s, UTC).isoformat(timespec="milliseconds")
    position = next(_positions)
    return EventEnvelope(position=position, event_id=f"e{position}", type="PostCreated",
                         aggregate_id=f"p{position}", aggregate_version=1,
                         occurred_at=at.replace("+00:00", "Z"), schema_version=1,
                         payload={"post_id": position, "author_id": author,
                                  "author_username": "x", "text": text, "mentions": [],
                                  "hashtags": tags, "reply_to_id": None,
                                  "quote_of_id": None})


def test_new_accounts_weigh_less_and_texts_are_compared_loosely() -> None:
    at = NOW * 1000
    assert account_weight(account(60), at, 30) == 1.0
    assert account_weight(account(15), at, 30) == pytest.approx(0.5)
    assert account_weight(account(0.001), at, 30) == 0.1
    assert text_key("Join us at https://a.example/x @bob #Now") == text_key(
        "join  us at https://b.example/y @carol #now")
    assert text_key("one text") != text_key("another text")
    event = posted(account(60), "x #a #b #a", ["a", "b", "a"], 30)
    assert [u.tag for u in tag_uses(event, 30)] == ["a", "b"]


def test_the_score_is_a_surprise_against_the_tags_own_baseline() -> None:
    def window(volume: float, first: float, baseline: float) -> TagWindow:
        return TagWindow("t", volume, first, volume - first, 10, 10, baseline, baseline / 2)

    steady = trend_score(window(10, 5, baseline=10), HOUR_S)
    rising = trend_score(window(10, 2, baseline=1), HOUR_S)
    new = trend_score(window(10, 2, baseline=0), HOUR_S)
    assert steady == pytest.approx(0)
    assert 0 < rising < new
    assert trend_score(window(10, 8, baseline=0), HOUR_S) < new  # slowing down


async def test_ten_accounts_trend_above_two_spammers_and_a_steady_tag() -> None:
    """The e2e scenario of issue 11, on the fakes: #surge (10 accounts in the last
    hour) trends; #spam (100 posts by 2 accounts) does not; nor does #steady (the
    same rate for 25 hours, 6 accounts an hour: enough authors, no rise)."""
    counters = MemoryTrendCounters()
    projector = TrendsProjector(counters)
    events = []
    for i in range(10):
        events.append(posted(account(90, i), f"surge {i} #surge", ["surge"], 50 * 60 - i * 300))
    spammers = [account(90, 100), account(90, 101)]
    for i in range(100):
        events.append(posted(spammers[i % 2], f"spam {i} #spam", ["spam"], 60 * (i % 55)))
    steady = [account(90, 200 + i) for i in range(8)]
    for minute in range(0, 25 * 60, 10):  # six an hour for 25 hours
        events.append(posted(steady[minute // 10 % 8], f"steady {minute} #steady",
                             ["steady"], minute * 60 + 30))
    for event in sorted(events, key=lambda e: e.position):
        await projector.apply(event)

    found = await trending_tags(counters, "1h", NOW, min_authors=5)
    tags = [t["tag"] for t in found]
    assert tags[0] == "surge" and "spam" not in tags
    assert found[0] == {"tag": "surge", "score": found[0]["score"], "posts_count": 10,
                        "accounts_count": 10}
    assert "steady" not in tags
    [steady_now] = await counters.windows(["steady"], NOW, HOUR_S)
    assert steady_now.authors >= 5 and steady_now.baseline_day >= steady_now.volume
    # a copy-paste campaign by many accounts is one text by one author
    for i in range(30):
        await projector.apply(posted(account(90, 300 + i), "Buy now!! #promo", ["promo"], 60))
    assert "promo" not in [t["tag"] for t in await trending_tags(counters, "1h", NOW)]
    # fresh accounts weigh a tenth: thirty of them are worth three established ones
    for i in range(30):
        await projector.apply(posted(account(0.01, 400 + i), f"fresh {i} #fresh", ["fresh"],
                                     120))
    scores = {t["tag"]: t["score"] for t in await trending_tags(counters, "1h", NOW)}
    assert scores["fresh"] < scores["surge"]


async def test_redelivery_counts_nothing_twice() -> None:
    counters = MemoryTrendCounters()
    projector = TrendsProjector(counters)
    batch = [posted(account(90, i), f"t {i} #x", ["x"], 60) for i in range(3)]
    await projector.apply_batch(batch)
    await projector.apply_batch(batch)
    await projector.apply(batch[1])
    [window] = await counters.windows(["x"], NOW, HOUR_S)
    assert window.posts == 3 and await projector.position() == batch[-1].position


def test_a_counter_at_the_end_of_its_ttl_is_left_out_of_a_comparison() -> None:
    """``verify trends``: a copy built now counts old buckets again, which the live copy
    let expire; such counters (and those within an hour of it) are not compared."""
    now = 1_775_001_600
    assert outlived(f"trend:{{trends}}:f:tag:{now - FINE_TTL_S - BUCKET_S}", now)
    assert outlived(f"trend:{{trends}}:f:tag:{now - FINE_TTL_S}", now)  # within the margin
    assert not outlived(f"trend:{{trends}}:f:tag:{now - BUCKET_S}", now)
    assert not outlived(f"trend:{{trends}}:h:tag:{now - 7 * DAY_S}", now)
    assert outlived(f"trend:{{trends}}:seen:tag:{(now - 3 * DAY_S) // DAY_S}", now)
    assert not outlived(f"trend:{{trends}}:seen:tag:{now // DAY_S}", now)
    assert not outlived("trend:cache:1h:5:20", now)


def suspension(type_: str, account_id: int) -> EventEnvelope:
    position = next(_positions)
    return EventEnvelope(position=position, event_id=f"e{position}", type=type_,
                         aggregate_id=f"a{account_id}", aggregate_version=2,
                         occurred_at="2026-04-01T00:00:00.000Z", schema_version=1,
                         payload={"account_id": account_id, "by": "cli:ops"})


async def test_a_suspended_accounts_posts_count_for_nothing_until_lifted() -> None:
    """Counted before the suspension (they stay), not from it on (in the batch of the
    suspension or later, or replayed from the parking lot), counted again once lifted;
    the same whichever way the log is cut into batches."""
    spammer, other = account(60, 1), account(60, 2)
    log = [posted(spammer, "before", ["t"], 50), suspension("AccountSuspended", spammer),
           posted(spammer, "during", ["t"], 40), posted(other, "other", ["t"], 40),
           posted(spammer, "during again", ["t"], 30),
           suspension("AccountUnsuspended", spammer), posted(spammer, "after", ["t"], 20)]
    results = []
    for cut in (len(log), 1, 2, 3, 5, 6):
        counters = MemoryTrendCounters()
        projector = TrendsProjector(counters)
        await projector.apply_batch(log[:cut])
        await projector.apply_batch(log[cut:])
        [window] = await counters.windows(["t"], NOW, HOUR_S)
        results.append((window.posts, window.authors))
        assert counters.recorded == log[-1].position
    assert results == [(3, 2)] * 6  # before, other, after
    counters = MemoryTrendCounters()
    projector = TrendsProjector(counters)
    await projector.apply_batch(log[:2])
    await projector.replay(posted(spammer, "parked while suspended", ["t"], 35))
    [window] = await counters.windows(["t"], NOW, HOUR_S)
    assert window.posts == 1
