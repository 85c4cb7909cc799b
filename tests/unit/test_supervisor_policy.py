"""`roost up`'s restart policy: backoff per exit, a crash loop stops everything."""

from __future__ import annotations

import signal

from infra.supervisor import RestartPolicy, describe_exit


def test_backoff_doubles_and_the_fifth_exit_within_a_minute_is_a_crash_loop() -> None:
    policy = RestartPolicy(max_exits=5, window_s=60)
    assert [policy.exited(t) for t in (0.0, 1.0, 2.0, 3.0)] == [0.5, 1.0, 2.0, 4.0]
    assert policy.exited(59.0) is None
    assert policy.recent_exits == 5


def test_exits_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy(max_exits=3, window_s=60)
    assert policy.exited(0.0) == 0.5
    assert policy.exited(10.0) == 1.0
    assert policy.exited(100.0) == 0.5  # the first two are out of the window
    assert policy.exited(120.0) == 1.0
    assert policy.exited(130.0) is None


def test_exit_descriptions_name_the_code_or_the_signal() -> None:
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
