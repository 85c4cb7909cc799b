"""``infra.group_commit.GroupCommitter``: who commits what, with whose answer.

Each test holds the first commit open (``Gate``) until the other writes have
queued behind it, so the group that follows is known, not left to scheduling.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.group_commit import GroupCommitter
from tests.waiting import wait_until


class Unreachable(Exception):
    pass


class Gate:
    """The first ``commit_one`` waits here until the test opens it."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.first = True

    def hold_first(self) -> None:
        if self.first:
            self.first = False
            assert self.opened.wait(10), "the gate was never opened"




class Recorder:
    """A store that records each transaction and answers ``item * 10``."""

    def __init__(self, gate: Gate, guilty: frozenset[int] = frozenset(),
                 group_error: type[Exception] | None = None) -> None:
        self.gate = gate
        self.guilty = guilty
        self.group_error = group_error
        self.transactions: list[list[int]] = []

    def one(self, item: int) -> int:
        self.gate.hold_first()
        if item in self.guilty:
            raise ValueError(f"{item} clashes")
        self.transactions.append([item])
        return item * 10

    def group(self, items: Sequence[int]) -> list[int]:
        if self.group_error is not None:
            raise self.group_error("the group's transaction failed")
        if self.guilty & set(items):
            raise ValueError("one of the group clashes")
        self.transactions.append(list(items))
        return [item * 10 for item in items]


def run_queued(committer: GroupCommitter[int, int], gate: Gate, items: list[int]
               ) -> list[Future[int]]:
    """Item 0 leads and is held; the others queue behind it; then the gate opens."""
    pool = ThreadPoolExecutor(max_workers=len(items))
    futures = [pool.submit(committer.commit, items[0])]
    wait_until(lambda: committer._leading, timeout=10, interval=0.002)
    futures += [pool.submit(committer.commit, item) for item in items[1:]]
    wait_until(lambda: len(committer._queue) == len(items) - 1, timeout=10, interval=0.002)
    gate.opened.set()
    pool.shutdown(wait=True)
    return futures


def test_writes_queued_behind_a_commit_share_the_next_one_each_with_its_answer() -> None:
    gate = Gate()
    store = Recorder(gate)
    committer = GroupCommitter(store.group, store.one)
    futures = run_queued(committer, gate, [1, 2, 3, 4])
    assert [f.result() for f in futures] == [10, 20, 30, 40]
    assert store.transactions[0] == [1]
    assert sorted(store.transactions[1]) == [2, 3, 4] and len(store.transactions) == 2


def test_a_lone_write_is_committed_at_once_on_its_own() -> None:
    gate = Gate()
    gate.opened.set()
    store = Recorder(gate)
    committer = GroupCommitter(store.group, store.one)
    assert committer.commit(7) == 70
    assert committer.commit(8) == 80
    assert store.transactions == [[7], [8]] and not committer._leading


def test_a_clash_in_a_group_fails_only_the_write_at_fault() -> None:
    gate = Gate()
    store = Recorder(gate, guilty=frozenset({3}))
    committer = GroupCommitter(store.group, store.one)
    futures = run_queued(committer, gate, [1, 2, 3, 4])
    assert [f.result() for f in (futures[0], futures[1], futures[3])] == [10, 20, 40]
    with pytest.raises(ValueError, match="3 clashes"):
        futures[2].result()
    stored = sorted(item for transaction in store.transactions for item in transaction)
    assert stored == [1, 2, 4]  # the group's failed transaction stored nothing


def test_an_unreachable_store_fails_every_write_of_the_group_with_its_own_error() -> None:
    gate = Gate()
    store = Recorder(gate, group_error=Unreachable)
    committer = GroupCommitter(store.group, store.one, transient=(Unreachable,))
    futures = run_queued(committer, gate, [1, 2, 3, 4])
    assert futures[0].result() == 10
    errors = [f.exception() for f in futures[1:]]
    assert all(isinstance(error, Unreachable) for error in errors)
    assert len({id(error) for error in errors}) == 3  # one object per write
    assert store.transactions == [[1]]  # none of them retried alone


def test_a_group_takes_at_most_max_items_and_the_rest_follow() -> None:
    gate = Gate()
    store = Recorder(gate)
    committer = GroupCommitter(store.group, store.one, max_items=2)
    futures = run_queued(committer, gate, [1, 2, 3, 4, 5])
    assert [f.result() for f in futures] == [10, 20, 30, 40, 50]
    assert [len(t) for t in store.transactions] == [1, 2, 2]


def test_an_unexpected_error_in_the_leader_still_answers_every_write() -> None:
    gate = Gate()

    def broken_group(items: Sequence[int]) -> list[int]:
        return [0]  # one answer for several items

    def one(item: int) -> int:
        gate.hold_first()
        return item

    committer = GroupCommitter(broken_group, one)
    futures = run_queued(committer, gate, [1, 2, 3])
    assert futures[0].result() == 1
    assert all(isinstance(f.exception(), RuntimeError) for f in futures[1:])
    assert not committer._leading  # and the next write leads again
    assert committer.commit(9) == 9


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=8), st.frozensets(st.integers(0, 50)))
def test_under_any_interleaving_each_write_gets_its_answer_or_its_own_error(
        items: list[int], max_items: int, guilty: frozenset[int]) -> None:
    gate = Gate()
    gate.opened.set()
    store = Recorder(gate, guilty=guilty)
    committer = GroupCommitter(store.group, store.one, max_items=max_items)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(committer.commit, item) for item in items]
    for item, future in zip(items, futures, strict=True):
        if item in guilty:
            assert isinstance(future.exception(), ValueError)
        else:
            assert future.result() == item * 10
    stored = sorted(i for transaction in store.transactions for i in transaction)
    assert stored == sorted(item for item in items if item not in guilty)
    assert not committer._leading and not committer._queue
