"""What /health concludes from positions and heartbeats (infra.health)."""

from __future__ import annotations

import orjson

from infra.health import ProgressTracker, heartbeat_verdict, progress_verdict
from streams.liveness import Liveness


def test_a_backlog_that_is_worked_off_is_not_a_stall() -> None:
    tracker = ProgressTracker()
    for t, position in enumerate(range(0, 1000, 100)):  # moves at every look
        assert tracker.stalled_for("p", position, 5000 - position, 0, now=t * 60.0) == 0.0


def test_no_progress_while_events_wait_counts_from_when_they_started_to_wait() -> None:
    tracker = ProgressTracker()
    assert tracker.stalled_for("p", 7, 0, 0, now=0.0) == 0.0
    assert tracker.stalled_for("p", 7, 0, 0, now=500.0) == 0.0  # idle, nothing waits
    # events start to wait: counted from the last look that saw none waiting
    assert tracker.stalled_for("p", 7, 3, 0, now=501.0) == 1.0
    assert tracker.stalled_for("p", 7, 3, 0, now=530.0) == 30.0
    assert progress_verdict("p", 7, 10, 30.0, 30.0).startswith(
        "error: p has not advanced for 30s while 3 events wait")
    assert tracker.stalled_for("p", 8, 2, 0, now=532.0) == 0.0  # it moved
    assert progress_verdict("p", 8, 10, 0.0, 30.0) == "ok"


def test_a_lag_within_the_allowance_is_not_waiting() -> None:
    tracker = ProgressTracker()
    assert tracker.stalled_for("p", 7, 5, 10, now=0.0) == 0.0
    assert tracker.stalled_for("p", 7, 5, 10, now=100.0) == 0.0
    assert tracker.stalled_for("p", 7, 11, 10, now=101.0) == 1.0
    assert tracker.stalled_for("p", 7, 11, 10, now=140.0) == 40.0


def test_heartbeats_say_gone_silent_or_ok() -> None:
    assert heartbeat_verdict("worker", None).startswith("error: no worker has reported")
    assert heartbeat_verdict("worker", b"1700000000") == "ok"  # an older worker's beat
    assert heartbeat_verdict("worker", orjson.dumps({"at": 1.0, "silent": {}})) == "ok"
    silent = heartbeat_verdict("worker", orjson.dumps({"at": 1.0, "silent": {"timelines": 20.4}}))
    assert silent == "error: worker is not consuming: no progress in timelines for 20s"
    failing = heartbeat_verdict("relay", orjson.dumps({"at": 1.0, "failing": "Boom('x')"}))
    assert failing == "error: relay is failing: Boom('x')"
    long = heartbeat_verdict("relay", orjson.dumps({"failing": "x" * 5000}))
    assert len(long) < 400  # a bounded message, however long the error


def test_liveness_names_the_loops_that_stopped_beating() -> None:
    now = [0.0]
    liveness = Liveness(["read_models", "timelines"], clock=lambda: now[0])
    now[0] = 10.0
    liveness.beat("read_models")
    assert liveness.silent(15.0) == {}
    now[0] = 20.0
    assert liveness.silent(15.0) == {"timelines": 20.0}  # stuck since the start
    verdict = heartbeat_verdict("worker", orjson.dumps({"silent": liveness.silent(15.0)}))
    assert verdict == "error: worker is not consuming: no progress in timelines for 20s"


def test_a_projector_ahead_of_the_event_store_is_never_healthy() -> None:
    """It applied events this store does not hold (another store's, from a shared
    Kafka topic): its rows are wrong, however fresh it looks."""
    verdict = progress_verdict("read_models", 278, 273, 0.0, 30.0)
    assert verdict.startswith("error: read_models is at 278, ahead of the event store at 273")
    assert progress_verdict("read_models", 273, 273, 0.0, 30.0) == "ok"
