"""Group commit on the PostgreSQL event store, through the command bus.

The first append is held open until the other commands have queued behind it,
so the next transaction is known to carry several commands; what each command
answers, and what is stored, must be as if each had been appended alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import StoredEvent

from commands.bus import CommandBus
from commands.idempotency import IdempotencyClaim
from commands.messages import CreatePost, Result, SetLike
from infra.event_store import FailFastRecorder, RoostStore
from tests.integration.conftest import signup
from tests.waiting import wait_until


class HeldFirstInsert:
    """Stands in for the recorder's insert: records each transaction's event count
    and holds the first one until ``opened``."""

    def __init__(self, recorder: FailFastRecorder) -> None:
        self.inner = recorder._insert_now
        self.opened = threading.Event()
        self.transactions: list[int] = []
        self._first = True

    def __call__(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        if self._first:
            self._first = False
            assert self.opened.wait(20), "never opened"
        self.transactions.append(len(stored_events))
        return self.inner(stored_events, **kwargs)


def store_of(bus: CommandBus) -> RoostStore:
    store = bus.context.store
    assert isinstance(store, RoostStore)
    return store


def held(bus: CommandBus) -> tuple[FailFastRecorder, HeldFirstInsert]:
    store = store_of(bus)
    recorder = store.recorder
    assert isinstance(recorder, FailFastRecorder) and recorder._group is not None
    hold = HeldFirstInsert(recorder)
    recorder._insert_now = hold
    return recorder, hold


def queued(recorder: FailFastRecorder, hold: HeldFirstInsert,
           calls: list[Callable[[], Result]]) -> list[Future[Result]]:
    """Run ``calls[0]`` (held in its insert), queue the rest behind it, then open."""
    group = recorder._group
    assert group is not None
    pool = ThreadPoolExecutor(max_workers=len(calls))
    futures = [pool.submit(calls[0])]
    wait_until(lambda: group._leading, timeout=20, interval=0.002)
    futures += [pool.submit(call) for call in calls[1:]]
    wait_until(lambda: len(group._queue) == len(calls) - 1, timeout=20, interval=0.002)
    hold.opened.set()
    pool.shutdown(wait=True)
    return futures




def stored_text(store: RoostStore, position: int) -> tuple[str, Any]:
    """The event type and text of the event stored at ``position``."""
    [notification] = store.recorder.select_notifications(start=position, limit=1)
    assert notification.id == position
    event = store.mapper.to_domain_event(notification)
    return type(event).__name__, getattr(event, "text", None)


def test_commands_queued_behind_an_append_share_one_transaction_each_with_its_position(
        bus: CommandBus) -> None:
    alice = signup(bus, "alice")
    recorder, hold = held(bus)
    texts = [f"post number {n}" for n in range(8)]

    def poster(text: str) -> Callable[[], Result]:
        return lambda: bus.handle(CreatePost(actor=alice, text=text))

    futures = queued(recorder, hold, [poster(text) for text in texts])
    results = [future.result() for future in futures]
    assert hold.transactions == [1, 7]  # the held one alone, then the seven together
    assert len({r.position for r in results}) == 8
    store = store_of(bus)
    for text, result in zip(texts, results, strict=True):
        assert stored_text(store, result.position) == ("PostCreated", text)
        assert result.data["text"] == text


def test_one_idempotency_key_in_one_group_is_appended_once(bus: CommandBus) -> None:
    alice = signup(bus, "alice")
    recorder, hold = held(bus)
    claim = IdempotencyClaim(owner=f"account:{alice.account_id}", key="k-group",
                             fingerprint="request-1")
    before = store_of(bus).head()
    futures = queued(recorder, hold, [
        lambda: bus.handle(CreatePost(actor=alice, text="first, alone")),
        *[(lambda: bus.handle(CreatePost(actor=alice, text="retried"), claim))] * 3])
    answers = [future.result() for future in futures[1:]]
    assert len({(a.position, a.data["id"]) for a in answers}) == 1
    assert sum(not a.replayed for a in answers) == 1
    store = store_of(bus)
    created = [n for n in store.recorder.select_notifications(start=before + 1, limit=100)
               if n.topic.endswith("PostCreated")]
    assert len(created) == 2  # "first, alone" and one "retried"


def test_a_clash_in_a_group_fails_only_its_command_which_the_bus_retries(
        bus: CommandBus) -> None:
    """Two likes of one post by one account are two version-1 events of one aggregate:
    the group's transaction clashes, each is appended alone, the loser is retried by
    the bus (as a clash always was) and finds the like already there."""
    alice = signup(bus, "alice")
    bob = signup(bus, "bob")
    post = int(bus.handle(CreatePost(actor=bob, text="likeable")).data["id"])
    recorder, hold = held(bus)
    before = store_of(bus).head()
    futures = queued(recorder, hold, [
        lambda: bus.handle(CreatePost(actor=bob, text="unrelated")),
        lambda: bus.handle(SetLike(actor=alice, post_id=post, active=True)),
        lambda: bus.handle(SetLike(actor=alice, post_id=post, active=True)),
        lambda: bus.handle(CreatePost(actor=bob, text="also unrelated"))])
    results = [future.result() for future in futures]
    assert results[1].position == results[2].position > before
    store = store_of(bus)
    types = [n.topic.rsplit(".", 1)[-1]
             for n in store.recorder.select_notifications(start=before + 1, limit=100)]
    assert sorted(types) == ["Liked", "PostCreated", "PostCreated"]
    assert len(hold.transactions) >= 3  # the group failed, its writes went alone
