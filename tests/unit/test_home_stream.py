"""The home stream's events: who gets what, with which ids, and only from live applies."""

from __future__ import annotations

from collections.abc import Sequence

from ports.live import AUTHOR_SEQ_BASE, LiveEvent
from projections.home_stream import HomeStream, item_reference

POST = (42, None)
REPOST = (50, 42)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[LiveEvent]] = []

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        self.calls.append(list(events))


def test_item_references() -> None:
    assert item_reference(POST) == {"id": "42"}
    assert item_reference(REPOST) == {"id": "50", "repost_of_id": "42"}


async def test_updates_go_to_the_audience_and_deletes_count_their_seq() -> None:
    recorder = Recorder()
    stream = HomeStream(recorder)
    stream.start()
    stream.at(7)
    stream.updated(1, [1, 2, 3], POST)
    stream.at(8)
    stream.withdrawn([1, 2], POST)
    stream.withdrawn([2], REPOST)
    await stream.flush()
    (events,) = recorder.calls
    assert [(e.account_id, e.channel, e.position, e.seq, e.event, dict(e.data)) for e in events] \
        == [(1, "home", 7, 0, "update", {"id": "42"}), (2, "home", 7, 0, "update", {"id": "42"}),
            (3, "home", 7, 0, "update", {"id": "42"}), (1, "home", 8, 0, "delete", {"id": "42"}),
            (2, "home", 8, 0, "delete", {"id": "42"}), (2, "home", 8, 1, "delete", {"id": "50"})]


async def test_an_item_pushed_to_its_author_alone_also_goes_to_the_author_channel() -> None:
    recorder = Recorder()
    stream = HomeStream(recorder)
    stream.start()
    stream.at(9)
    stream.updated(5, [5], REPOST)
    await stream.flush()
    assert [(e.account_id, e.channel, e.seq) for e in recorder.calls[0]] == \
        [(5, "home", 0), (5, "author", AUTHOR_SEQ_BASE)]


async def test_without_a_publisher_or_outside_a_live_apply_nothing_is_sent() -> None:
    quiet = HomeStream(None)
    quiet.start()
    quiet.at(3)
    quiet.updated(1, [1, 2], POST)
    await quiet.flush()
    recorder = Recorder()
    stream = HomeStream(recorder)
    stream.updated(1, [1, 2], POST)  # replay() of a parked event: no position set
    await stream.flush()
    assert recorder.calls == []


async def test_a_failed_batch_leaves_nothing_for_the_next() -> None:
    recorder = Recorder()
    stream = HomeStream(recorder)
    stream.start()
    stream.at(3)
    stream.updated(1, [1], POST)  # ...and the batch raises before flushing
    stream.start()
    stream.at(4)
    stream.withdrawn([1], POST)
    await stream.flush()
    assert [(e.position, e.event) for e in recorder.calls[0]] == [(4, "delete")]
