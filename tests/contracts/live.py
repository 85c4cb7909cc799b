"""The live-events contract (``ports.live``): publishing, delivery, exact resume,
reset, replays refused, several channels merged in id order, slow subscribers closed.

``LiveContract`` runs against the in-memory fake (``tests/unit/test_store_contracts.py``)
and the Redis adapter with its per-process reader
(``tests/integration/test_store_contracts.py``); each provides the ``live`` fixture
with ``BUFFER`` and ``QUEUE``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from ports.live import (
    AUTHOR_CHANNEL,
    AUTHOR_SEQ_BASE,
    HOME_CHANNEL,
    NOTIFICATIONS_CHANNEL,
    Channel,
    LiveEvent,
    LiveEventPublisher,
    LiveEventSubscriber,
    LiveSubscription,
    ReceivedEvent,
    SubscriptionClosed,
)

BUFFER = 8
QUEUE = 3
READER = 7


@dataclass
class Live:
    publisher: LiveEventPublisher
    subscriber: LiveEventSubscriber
    expire: Callable[[Channel, int], Awaitable[None]]


def home(position: int, seq: int = 0, account: int = READER, **data: Any) -> LiveEvent:
    return LiveEvent(account, HOME_CHANNEL, position, seq, "update",
                     {"id": str(position * 10 + seq), **data})


async def receive(subscription: LiveSubscription, count: int, timeout: float = 10.0
                  ) -> list[ReceivedEvent]:
    """Exactly ``count`` events (fails on more in the same delivery, or on timeout)."""
    got: list[ReceivedEvent] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"received {len(got)} of {count} events: {got}"
        got += await subscription.next(min(left, 1.0))
    assert len(got) == count, got
    return got


async def nothing_more(subscription: LiveSubscription) -> None:
    assert await subscription.next(0.3) == []


def ids(events: Sequence[ReceivedEvent]) -> list[str]:
    return [e.id for e in events]


class LiveContract:
    async def test_events_arrive_in_id_order_each_once(self, live: Live) -> None:
        subscription = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        assert not subscription.reset
        await live.publisher.publish([home(3, 1), home(3, 0), home(4)])
        got = await receive(subscription, 3)
        assert ids(got) == ["3-0", "3-1", "4-0"]
        assert (got[0].event, got[0].data, got[0].channel, got[0].account_id) == \
            ("update", {"id": "30"}, HOME_CHANNEL, READER)
        await nothing_more(subscription)
        await subscription.close()

    async def test_only_the_reader_s_own_channel_is_delivered(self, live: Live) -> None:
        subscription = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        other = await live.subscriber.subscribe([(HOME_CHANNEL, READER + 1)], None)
        await live.publisher.publish([home(5, account=READER + 1), home(6)])
        assert ids(await receive(subscription, 1)) == ["6-0"]
        assert ids(await receive(other, 1)) == ["5-0"]
        await nothing_more(subscription)

    async def test_reconnecting_with_the_last_id_gets_exactly_what_was_missed(
            self, live: Live) -> None:
        first = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(10), home(11)])
        seen = await receive(first, 2)
        await first.close()
        await live.publisher.publish([home(12), home(12, 1), home(13)])
        again = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], seen[-1].id)
        assert not again.reset
        assert ids(await receive(again, 3)) == ["12-0", "12-1", "13-0"]
        await live.publisher.publish([home(14)])
        assert ids(await receive(again, 1)) == ["14-0"]
        await nothing_more(again)

    async def test_a_replay_of_old_ids_sends_nothing(self, live: Live) -> None:
        subscription = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(20), home(21)])
        assert ids(await receive(subscription, 2)) == ["20-0", "21-0"]
        await live.publisher.publish([home(20), home(21), home(19)])  # a rebuild re-deriving
        await live.publisher.publish([home(22)])
        assert ids(await receive(subscription, 1)) == ["22-0"]
        await nothing_more(subscription)

    async def test_nobody_following_a_channel_costs_nothing_and_cannot_be_resumed(
            self, live: Live) -> None:
        await live.publisher.publish([home(30)])  # no buffer yet: dropped
        subscription = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], "29-0")
        assert subscription.reset  # 30-0 may have been missed: no exact resume
        assert subscription.start_id.startswith("30-")
        await live.publisher.publish([home(31)])
        assert ids(await receive(subscription, 1)) == ["31-0"]
        # From the start id of that reset, a later reconnect resumes exactly.
        await subscription.close()
        await live.publisher.publish([home(32)])
        again = await live.subscriber.subscribe([(HOME_CHANNEL, READER)],
                                                subscription.start_id)
        assert not again.reset
        assert ids(await receive(again, 2)) == ["31-0", "32-0"]

    async def test_an_id_trimmed_out_of_the_buffer_resets(self, live: Live) -> None:
        first = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await first.close()
        await live.publisher.publish([home(100 + n) for n in range(250)])
        old = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], "100-0")
        assert old.reset
        assert old.start_id == "349-0"
        await nothing_more(old)
        recent = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], "347-0")
        assert not recent.reset
        assert ids(await receive(recent, 2)) == ["348-0", "349-0"]

    @pytest.mark.parametrize("malformed", ["", "abc", "12", "12-", "-3", "1-2-3", "9" * 25 + "-0",
                                           "18446744073709551616-0"])
    async def test_a_malformed_id_resets(self, live: Live, malformed: str) -> None:
        await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(40)])
        subscription = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], malformed)
        assert subscription.reset
        await nothing_more(subscription)
        await live.publisher.publish([home(41)])
        assert ids(await receive(subscription, 1)) == ["41-0"]

    @pytest.mark.parametrize("future", ["99999999999999-0", "9223372036854775807-0", "61-0"])
    async def test_an_id_beyond_anything_published_resets(self, live: Live, future: str
                                                          ) -> None:
        """A client of another store, or of this one before its Redis was emptied, must
        not wait in silence until the positions catch up with its id."""
        await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(60)])
        subscription = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], future)
        assert subscription.reset
        assert subscription.start_id == "60-0"
        await live.publisher.publish([home(61, 1), home(62)])
        assert ids(await receive(subscription, 2)) == ["61-1", "62-0"]
        latest = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], "62-0")
        assert not latest.reset  # the newest id itself resumes (nothing after it yet)

    async def test_an_expired_buffer_resets_a_reconnect(self, live: Live) -> None:
        first = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(50)])
        seen = await receive(first, 1)
        await first.close()
        await live.expire(HOME_CHANNEL, READER)
        await live.publisher.publish([home(51)])  # lost: nobody's buffer
        again = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], seen[-1].id)
        assert again.reset

    async def test_home_and_author_channels_merge_in_id_order_and_resume_together(
            self, live: Live) -> None:
        celebrity = 900
        channels: list[tuple[Channel, int]] = [(HOME_CHANNEL, READER),
                                               (AUTHOR_CHANNEL, celebrity)]
        subscription = await live.subscriber.subscribe(channels, None)

        def by_celebrity(position: int) -> LiveEvent:
            return LiveEvent(celebrity, AUTHOR_CHANNEL, position, AUTHOR_SEQ_BASE, "update",
                             {"id": str(position)})

        await live.publisher.publish([by_celebrity(61), home(60), home(61)])  # <= QUEUE
        got = await receive(subscription, 3)
        await live.publisher.publish([home(62)])
        got += await receive(subscription, 1)
        assert ids(got) == ["60-0", "61-0", f"61-{AUTHOR_SEQ_BASE}", "62-0"]
        await subscription.close()
        await live.publisher.publish([by_celebrity(63), home(64), by_celebrity(65)])
        again = await live.subscriber.subscribe(channels, got[1].id)
        assert not again.reset
        assert ids(await receive(again, 5)) == [f"61-{AUTHOR_SEQ_BASE}", "62-0",
                                                f"63-{AUTHOR_SEQ_BASE}", "64-0",
                                                f"65-{AUTHOR_SEQ_BASE}"]

    async def test_a_subscriber_that_falls_behind_is_closed_and_resumes(
            self, live: Live) -> None:
        slow = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        fast = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(70)])
        assert ids(await receive(slow, 1)) == ["70-0"]
        assert ids(await receive(fast, 1)) == ["70-0"]
        for position in range(71, 71 + QUEUE + 2):  # one at a time: fast keeps up
            await live.publisher.publish([home(position)])
            assert ids(await receive(fast, 1)) == [f"{position}-0"]
        queued: list[ReceivedEvent] = []  # what it had queued comes first, in order
        with pytest.raises(SubscriptionClosed) as closed:
            for _ in range(20):  # bounded: it is closed within a few reads
                queued += await slow.next(1.0)
        assert closed.value.reason == "too_slow"
        assert ids(queued) == [f"{p}-0" for p in range(71, 71 + len(queued))]
        assert len(queued) < QUEUE + 2
        last = queued[-1].id if queued else "70-0"
        resumed = await live.subscriber.subscribe([(HOME_CHANNEL, READER)], last)
        assert not resumed.reset
        assert ids(await receive(resumed, QUEUE + 2 - len(queued))) == \
            [f"{p}-0" for p in range(71 + len(queued), 71 + QUEUE + 2)]

    async def test_notifications_are_their_own_group(self, live: Live) -> None:
        """The notifications projector publishes at its own positions: a home event
        at a later position must not make its events look old."""
        await live.subscriber.subscribe([(HOME_CHANNEL, READER)], None)
        await live.publisher.publish([home(500)])
        subscription = await live.subscriber.subscribe([(NOTIFICATIONS_CHANNEL, READER)], None)
        await live.publisher.publish([LiveEvent(READER, NOTIFICATIONS_CHANNEL, 80, 0,
                                                "notification", {"id": "g1"})])
        got = await receive(subscription, 1)
        assert (got[0].id, got[0].event, got[0].data) == ("80-0", "notification", {"id": "g1"})
