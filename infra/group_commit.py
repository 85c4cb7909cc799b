"""Group commit: the writes that arrive while one is committing share the next commit.

The event store's inserts are serialised (the library locks ``roost_events`` for
each transaction so that positions are committed in order), so each command's
append pays a lock hold and a commit of its own, one after another, and the API's
threads queue behind them. A group commit lets them share one: the thread that
finds no commit running leads, commits everything queued (its own write
included) in one transaction, hands each write its own result, and passes the
lead to the first write that queued meanwhile. No write waits for a timer: under
a light load every group holds one write, and groups grow only while commits
are busy ("smart batching"; the same scheme as PostgreSQL's own WAL group
commit, ``commit_delay`` = 0, and MySQL's binary-log group commit).

Failure isolation: when a group's transaction fails for a reason that may be one
write's (a uniqueness clash: two commands on one aggregate), nothing of it was
stored, and each of its writes is committed again on its own, so only the guilty
one fails. When it fails because the store is unreachable (``transient``), every
write of the group fails at once, each with an error of its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from infra.metrics import GROUP_COMMIT_SIZE

Item = TypeVar("Item")
Answer = TypeVar("Answer")


@dataclass(eq=False)
class _Write(Generic[Item, Answer]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    answer: Answer | None = None
    error: BaseException | None = None


class GroupCommitter(Generic[Item, Answer]):
    """Commits ``Item``s in groups, answering each caller with its own ``Answer``.

    Args:
        commit_group: commits a group of items in one transaction and answers one
            answer per item, in order; raises if nothing of the group was stored.
        commit_one: commits one item on its own (the isolation path).
        transient: the errors that mean the store is unreachable, not an item at
            fault: the whole group fails with them, no item is retried alone.
        max_items: the largest group (items, not rows) one transaction takes.
    """

    def __init__(self, commit_group: Callable[[Sequence[Item]], Sequence[Answer]],
                 commit_one: Callable[[Item], Answer],
                 transient: tuple[type[BaseException], ...] = (),
                 max_items: int = 256) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._commit_group = commit_group
        self._commit_one = commit_one
        self._transient = transient
        self._max_items = max_items
        self._lock = threading.Lock()
        self._queue: deque[_Write[Item, Answer]] = deque()
        self._leading = False

    def commit(self, item: Item) -> Answer:
        """Commit ``item`` (alone or in a group) and answer its own answer; raises
        what committing it raised. Blocks the calling thread until it is stored."""
        write: _Write[Item, Answer] = _Write(item)
        with self._lock:
            self._queue.append(write)
            if not self._leading:
                self._leading = write.lead = True
        if not write.lead:
            write.done.wait()
        if write.lead:  # first in, or handed the lead by the group before
            self._lead()
        if write.error is not None:
            raise write.error
        return write.answer  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            group = [self._queue.popleft()
                     for _ in range(min(self._max_items, len(self._queue)))]
        try:
            self._commit(group)
        except BaseException as exc:  # nothing may leave a write without an answer
            for write in group:
                if write.answer is None and write.error is None:
                    write.error = exc
        finally:
            with self._lock:
                following = self._queue[0] if self._queue else None
                if following is None:
                    self._leading = False
                else:
                    following.lead = True
            if following is not None:
                following.done.set()
            for write in group:
                write.lead = False
                write.done.set()

    def _commit(self, group: list[_Write[Item, Answer]]) -> None:
        GROUP_COMMIT_SIZE.observe(len(group))
        if len(group) == 1:
            self._commit_alone(group[0])
            return
        try:
            answers = self._commit_group([write.item for write in group])
        except self._transient as exc:
            for write in group:
                write.error = _copy(exc)
            return
        except Exception:  # maybe one item's fault: nothing was stored; each alone
            for write in group:
                self._commit_alone(write)
            return
        if len(answers) != len(group):  # a broken store: no write gets a wrong answer
            raise RuntimeError(f"{len(answers)} answers for a group of {len(group)} writes")
        for write, answer in zip(group, answers, strict=True):
            write.answer = answer

    def _commit_alone(self, write: _Write[Item, Answer]) -> None:
        try:
            write.answer = self._commit_one(write.item)
        except Exception as exc:
            write.error = exc


def _copy(exc: BaseException) -> BaseException:
    """An error of its own for each write of a failed group (one exception object
    raised in many threads would gather all their tracebacks)."""
    try:
        copied = type(exc)(*exc.args)
    except Exception:
        return exc
    copied.__cause__ = exc
    return copied
