"""ProjectionRunner with an in-memory projector, event log and parking lot (the
port's fake, ``tests.fakes.parking``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from infra.failures import is_transient
from ports.errors import DependencyUnavailable
from ports.events import EventEnvelope
from projections.base import after
from projections.failures import TransientCheck, declared_unavailable
from projections.runner import ProjectionRunner
from tests.fakes.parking import FakeParkingLot


def envelope(position: int, type_: str = "PostCreated") -> EventEnvelope:
    return EventEnvelope(
        position=position, event_id=f"e{position}", type=type_, aggregate_id=f"a{position}",
        aggregate_version=1, occurred_at="2026-11-24T10:00:00.000Z", schema_version=1,
        payload={"n": position},
    )


@dataclass
class FakeProjector:
    """Keeps a position and the writes it made; fails as scripted."""

    name: str = "fake"
    pos: int = 0
    applied: list[int] = field(default_factory=list)
    replayed: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)
    failures_left: dict[int, int] = field(default_factory=dict)  # position -> failures
    cancel_at: int | None = None
    batches: list[list[int]] = field(default_factory=list)
    position_reads: int = 0
    reset_on_failure: bool = False

    async def position(self) -> int:
        self.position_reads += 1
        return self.pos

    async def apply(self, event: EventEnvelope, *, expected_position: int = 0) -> None:
        after(self.pos, [], expected_position)  # PositionBehind, as the real projectors
        self.calls.append(event.position)
        if event.position == self.cancel_at:
            raise asyncio.CancelledError
        if self.failures_left.get(event.position, 0) > 0:
            self.failures_left[event.position] -= 1
            raise RuntimeError(f"boom at {event.position}")
        if event.position <= self.pos:
            return
        self.applied.append(event.position)
        self.pos = event.position

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        """All or nothing, like the real projectors: a failing event fails the batch."""
        after(self.pos, [], expected_position)
        self.batches.append([e.position for e in events])
        before = (self.pos, len(self.applied))
        try:
            for event in events:
                await self.apply(event)
        except Exception:
            self.pos, self.applied[:] = before[0], self.applied[:before[1]]
            if self.reset_on_failure:  # another process resets the store meanwhile
                self.pos, self.reset_on_failure = 0, False
                self.applied.clear()
            raise

    async def replay(self, event: EventEnvelope) -> None:
        self.replayed.append(event.position)

    async def advance(self, position: int) -> None:
        self.pos = max(self.pos, position)

    async def reset(self) -> None:
        self.pos = 0
        self.applied.clear()

    async def after_rebuild(self) -> None:
        pass


@dataclass
class FakeLog:
    """The event store's notification log, read in pages."""

    events: list[EventEnvelope]
    page: int = 1000
    reads: list[tuple[int, int]] = field(default_factory=list)

    async def __call__(self, after: int, upto: int) -> list[EventEnvelope]:
        self.reads.append((after, upto))
        return [e for e in self.events if after < e.position <= upto][: self.page]


class FakeSleep(list[float]):
    """The runner's sleep: records each delay (s) instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
def sleeps() -> FakeSleep:
    """Record the runner's backoff instead of sleeping."""
    return FakeSleep()


def make_runner(
    projector: FakeProjector, log: FakeLog, parking: FakeParkingLot, sleeps: FakeSleep,
    max_attempts: int = 5, applied: list[int] | None = None,
    transient: TransientCheck = is_transient,
) -> ProjectionRunner:
    """The runner as the composition root builds it: ``transient`` is
    ``infra.failures.is_transient`` unless a test says otherwise."""
    def on_applied(name: str, event: EventEnvelope) -> None:
        assert name == projector.name
        if applied is not None:
            applied.append(event.position)

    return ProjectionRunner(projector, log, parking, max_attempts=max_attempts, backoff_s=0.5,
                            on_applied=on_applied, sleep=sleeps, transient=transient)


async def test_in_order_events_are_applied_once_each(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in (1, 2, 3)]
    projector, log, parking = FakeProjector(), FakeLog(events), FakeParkingLot()
    seen: list[int] = []
    runner = make_runner(projector, log, parking, sleeps, applied=seen)
    for event in events:
        await runner.handle(event)
    assert projector.applied == [1, 2, 3] == seen
    assert log.reads == []  # nothing missing, nothing read
    assert parking.calls == [] and sleeps == []


async def test_redelivered_events_are_ignored_without_calling_the_projector(
    sleeps: FakeSleep,
) -> None:
    events = [envelope(p) for p in (1, 2, 3)]
    projector = FakeProjector()
    runner = make_runner(projector, FakeLog(events), FakeParkingLot(), sleeps)
    for event in [*events, events[0], events[2], events[1], events[2]]:
        await runner.handle(event)
    assert projector.calls == [1, 2, 3]
    assert projector.applied == [1, 2, 3]


async def test_a_gap_is_filled_from_the_log_in_order_first(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 12)]
    log = FakeLog(events, page=3)  # several pages
    projector = FakeProjector()
    runner = make_runner(projector, log, FakeParkingLot(), sleeps)
    await runner.handle(events[0])
    await runner.handle(events[9])  # 2..9 never arrived
    assert projector.applied == list(range(1, 11))
    assert log.reads[0] == (1, 10)  # the hole and the event itself, from the log
    assert all(upto == 10 for _, upto in log.reads)
    await runner.handle(events[10])
    assert projector.applied == list(range(1, 12))


async def test_gaps_in_positions_themselves_are_not_missing_events(sleeps: FakeSleep) -> None:
    # notification ids may skip numbers (rolled-back transactions)
    events = [envelope(p) for p in (2, 5, 6, 10)]
    projector = FakeProjector()
    runner = make_runner(projector, FakeLog(events), FakeParkingLot(), sleeps)
    for event in events:
        await runner.handle(event)
    assert projector.applied == [2, 5, 6, 10]


async def test_the_position_is_read_once_not_before_every_delivery(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 7)]
    projector = FakeProjector()
    runner = make_runner(projector, FakeLog(events), FakeParkingLot(), sleeps)
    await runner.handle_batch(events[:2])
    await runner.handle_batch(events[2:4])
    await runner.handle(events[1])  # a redelivery: nothing to read either
    await runner.handle_batch(events[4:])
    assert projector.applied == [1, 2, 3, 4, 5, 6]
    assert projector.position_reads == 1


async def test_a_store_reset_behind_the_runner_is_caught_up_from_the_log(
    sleeps: FakeSleep,
) -> None:
    # another process reset the projection (a rebuild in place, a wiped Redis) after
    # this runner applied 1..3: the next delivery must not be applied on its own
    events = [envelope(p) for p in range(1, 6)]
    log = FakeLog(events)
    projector = FakeProjector()
    runner = make_runner(projector, log, FakeParkingLot(), sleeps)
    await runner.handle_batch(events[:3])
    await projector.reset()
    await runner.handle(events[3])
    assert projector.applied == [1, 2, 3, 4]  # the whole log again, in order
    assert log.reads == [(0, 4)]
    await runner.handle(events[4])
    assert projector.applied == [1, 2, 3, 4, 5]
    assert sleeps == []  # not a failure: nothing waited, nothing parked


async def test_a_store_reset_while_a_batch_fails_parks_nothing(sleeps: FakeSleep) -> None:
    # the batch fails (the event's own error), the store is reset meanwhile, and the
    # event-by-event retry finds it behind: caught up from the log, nothing parked
    events = [envelope(p) for p in range(1, 6)]
    projector = FakeProjector()
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog(events), parking, sleeps)
    await runner.handle_batch(events[:2])
    projector.failures_left, projector.reset_on_failure = {3: 1}, True
    await runner.handle_batch(events[2:])
    assert projector.applied == [1, 2, 3, 4, 5]
    assert parking.calls == []


async def test_a_store_reset_during_a_catch_up_is_caught_up_from_its_start(
    sleeps: FakeSleep,
) -> None:
    events = [envelope(p) for p in range(1, 6)]
    projector = FakeProjector()

    class ResettingLog(FakeLog):
        async def __call__(self, after: int, upto: int) -> list[EventEnvelope]:
            if len(self.reads) == 1:  # between the first page and the second
                await projector.reset()
            return await super().__call__(after, upto)

    runner = make_runner(projector, ResettingLog(events, page=2), FakeParkingLot(), sleeps)
    await runner.catch_up(upto=5)
    assert projector.applied == [1, 2, 3, 4, 5]  # never 3..5 after a hole
    assert sleeps == []


async def test_an_unknown_event_after_a_reset_does_not_skip_the_log(
    sleeps: FakeSleep,
) -> None:
    # parked unapplied, it moves the position by ``advance``, which reads nothing: the
    # runner checks the store is not behind what it saw first
    events = [*(envelope(p) for p in range(1, 5)), envelope(5, "FromTheFuture")]
    projector, parking = FakeProjector(), FakeParkingLot()
    runner = ProjectionRunner(projector, FakeLog(events), parking, sleep=sleeps,
                              known_types=frozenset({"PostCreated"}))
    await runner.handle_batch(events[:4])
    await projector.reset()
    await runner.handle(events[4])
    assert projector.applied == [1, 2, 3, 4]  # the log again, then 5 parked
    assert projector.pos == 5
    assert [c[1] for c in parking.calls] == [5, 5]  # parked again by the catch-up: upsert


async def test_a_parked_event_moves_the_seen_position(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 5)]
    projector = FakeProjector(failures_left={2: 99})
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog(events), parking, sleeps, max_attempts=2)
    await runner.handle_batch(events[:2])
    await runner.handle(events[2])
    await runner.handle(events[3])
    assert projector.applied == [1, 3, 4]
    assert [c[1] for c in parking.calls] == [2]
    assert projector.position_reads == 2  # at the start; before the park's advance


async def test_catch_up_on_start_applies_the_whole_log(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 8)]
    projector = FakeProjector(pos=3)
    runner = make_runner(projector, FakeLog(events, page=2), FakeParkingLot(), sleeps)
    assert await runner.catch_up(upto=7) == 4
    assert projector.applied == [4, 5, 6, 7]
    assert await runner.catch_up(upto=7) == 0


async def test_transient_failure_is_retried_with_exponential_backoff(
    sleeps: FakeSleep,
) -> None:
    projector = FakeProjector(failures_left={1: 3})
    parking = FakeParkingLot()
    seen: list[int] = []
    runner = make_runner(projector, FakeLog([envelope(1)]), parking, sleeps, applied=seen)
    await runner.handle(envelope(1))
    assert projector.calls == [1, 1, 1, 1]
    assert projector.applied == [1] == seen
    assert sleeps == [0.5, 1.0, 2.0]
    assert parking.calls == []


async def test_persistent_failure_is_parked_then_the_projector_moves_on(
    sleeps: FakeSleep,
) -> None:
    events = [envelope(p) for p in (1, 2, 3)]
    projector = FakeProjector(failures_left={2: 99})
    parking = FakeParkingLot()
    seen: list[int] = []
    runner = make_runner(projector, FakeLog(events), parking, sleeps, max_attempts=4, applied=seen)
    for event in events:
        await runner.handle(event)
    assert projector.calls == [1, 2, 2, 2, 2, 3]
    assert sleeps == [0.5, 1.0, 2.0]  # no sleep after the last attempt
    assert [(name, pos, attempts) for name, pos, _, attempts in parking.calls] == [
        ("fake", 2, 4)]
    assert "boom at 2" in parking.calls[0][2]
    assert projector.applied == [1, 3] == seen
    assert projector.pos == 3


async def test_failure_during_catch_up_is_parked_and_catch_up_continues(
    sleeps: FakeSleep,
) -> None:
    events = [envelope(p) for p in range(1, 7)]
    projector = FakeProjector(failures_left={3: 99})
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog(events, page=2), parking, sleeps, max_attempts=2)
    await runner.handle(events[5])
    assert projector.applied == [1, 2, 4, 5, 6]
    assert [pos for _, pos, _, _ in parking.calls] == [3]


async def test_every_event_is_either_applied_or_parked(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 41)]
    failing = {p: 99 for p in (4, 5, 17, 40)}
    projector = FakeProjector(failures_left=dict(failing))
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog(events, page=7), parking, sleeps, max_attempts=2)
    for event in events[::5]:  # most events only reach the runner through catch-up
        await runner.handle(event)
    await runner.handle(events[-1])
    parked = [pos for _, pos, _, _ in parking.calls]
    assert sorted(projector.applied + parked) == list(range(1, 41))
    assert set(parked) == set(failing)
    assert len(parked) == len(set(parked))


async def test_no_skip_without_park_when_the_parking_lot_fails(sleeps: FakeSleep) -> None:
    projector = FakeProjector(failures_left={2: 2})
    parking = FakeParkingLot(broken=True)
    runner = make_runner(projector, FakeLog([envelope(1), envelope(2)]), parking, sleeps,
                         max_attempts=2)
    await runner.handle(envelope(1))
    with pytest.raises(ConnectionError):
        await runner.handle(envelope(2))
    assert projector.pos == 1  # not advanced past an event nobody recorded
    # redelivery retries it; now it succeeds
    await runner.handle(envelope(2))
    assert projector.applied == [1, 2]


async def test_cancellation_is_not_retried_or_parked(sleeps: FakeSleep) -> None:
    projector = FakeProjector(cancel_at=1)
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog([envelope(1)]), parking, sleeps)
    with pytest.raises(asyncio.CancelledError):
        await runner.handle(envelope(1))
    assert projector.calls == [1]
    assert parking.calls == [] and sleeps == [] and projector.pos == 0


async def test_consecutive_deliveries_are_applied_as_one_batch(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 8)]
    log = FakeLog(events, page=100)
    projector = FakeProjector()
    runner = make_runner(projector, log, FakeParkingLot(), sleeps)
    await runner.handle_batch([events[2], events[0], events[1], events[1]])  # any order, dups
    assert projector.batches == [[1, 2, 3]]
    assert log.reads == []  # nothing was missing: no event-store read
    await runner.handle_batch([events[4], events[5]])  # 4 is missing
    assert projector.applied == [1, 2, 3, 4, 5, 6]
    assert log.reads == [(3, 6)]


async def test_a_failing_batch_falls_back_to_event_by_event(sleeps: FakeSleep) -> None:
    events = [envelope(p) for p in range(1, 5)]
    projector = FakeProjector(failures_left={3: 99})
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog(events), parking, sleeps)
    await runner.handle_batch(events)
    assert projector.applied == [1, 2, 4]  # 3 was parked, nothing else lost
    assert [position for _, position, _, _ in parking.calls] == [3]


async def test_a_dependency_outage_parks_nothing_and_keeps_the_position(
    sleeps: FakeSleep,
) -> None:
    """PostgreSQL or Redis unreachable: the event is fine, so it is not parked; the error
    goes to the supervised loop, and the next try applies it."""
    projector = FakeProjector()
    parking = FakeParkingLot()
    runner = make_runner(projector, FakeLog([envelope(1), envelope(2)]), parking, sleeps)
    await runner.handle(envelope(1))

    async def unreachable(event: EventEnvelope, *, expected_position: int = 0) -> None:
        raise ConnectionRefusedError("redis is down")

    real_apply = projector.apply
    projector.apply = unreachable  # type: ignore[method-assign]
    with pytest.raises(ConnectionRefusedError):
        await runner.handle(envelope(2))
    assert parking.calls == [] and projector.pos == 1 and sleeps == []
    projector.apply = real_apply  # type: ignore[method-assign]
    await runner.handle(envelope(2))
    assert projector.applied == [1, 2]


async def test_an_unknown_event_type_is_parked_at_once_and_the_rest_applied(
    sleeps: FakeSleep,
) -> None:
    events = [envelope(1), envelope(2, "NoSuchEvent"), envelope(3), envelope(4)]
    projector, parking = FakeProjector(), FakeParkingLot()
    runner = ProjectionRunner(projector, FakeLog(events), parking, backoff_s=0.5,
                              known_types=frozenset({"PostCreated"}), sleep=sleeps)
    await runner.handle_batch(events)
    assert projector.applied == [1, 3, 4]
    assert [(pos, attempts) for _, pos, _, attempts in parking.calls] == [(2, 0)]
    assert "NoSuchEvent" in parking.calls[0][2]
    assert 2 not in projector.calls and sleeps == []


async def test_the_injected_check_decides_what_is_an_outage(sleeps: FakeSleep) -> None:
    """The runner knows no driver: what is an outage is the injected check's verdict
    (``infra.failures.is_transient`` in every process), and ``DependencyUnavailable``
    always is one. Without a check, a client's connection error is the event's."""
    class Outage(Exception):
        pass

    for transient, error, outage in [
        (lambda e: isinstance(e, Outage), Outage("down"), True),
        (lambda e: isinstance(e, Outage), RuntimeError("bad event"), False),
        (lambda e: False, DependencyUnavailable("post cache: down"), True),
        (declared_unavailable, DependencyUnavailable("post cache: down"), True),
        (declared_unavailable, ConnectionRefusedError("redis is down"), False),
    ]:
        projector, parking, sleeps[:] = FakeProjector(), FakeParkingLot(), []
        runner = make_runner(projector, FakeLog([envelope(1)]), parking, sleeps,
                             max_attempts=2, transient=transient)

        async def failing(event: EventEnvelope, error: Exception = error, *,
                          expected_position: int = 0) -> None:
            raise error

        projector.apply = failing  # type: ignore[method-assign]
        if outage:
            with pytest.raises(type(error)):
                await runner.handle(envelope(1))
            assert parking.calls == [] and sleeps == [] and projector.pos == 0
        else:
            await runner.handle(envelope(1))
            assert [position for _, position, _, _ in parking.calls] == [1]
            assert projector.pos == 1 and sleeps == [0.5]
