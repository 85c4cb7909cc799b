"""`roost up`'s restart policy: backoff per exit, a crash loop stops everything."""

from __future__ import annotations

import signal

import httpx
import pytest

from infra import supervisor
from infra.settings import Settings
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


def test_a_start_that_never_becomes_healthy_names_the_failing_checks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``roost up``'s timeout message says what /health says is wrong, not only "see
    the logs" (where a 503 line does not say why)."""
    answer = httpx.Response(503, json={"status": "unhealthy", "checks": {
        "postgres": "ok", "search_index": "search_index is at 15, ahead of the event store "
        "at 0: rebuild it"}}, request=httpx.Request("GET", "http://x/health"))
    monkeypatch.setattr(httpx, "get", lambda *_a, **_k: answer)
    assert supervisor._unhealthy("http://x/health") == \
        "search_index: search_index is at 15, ahead of the event store at 0: rebuild it"

    def refused(*_a: object, **_k: object) -> httpx.Response:
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(httpx, "get", refused)
    assert supervisor._unhealthy("http://x/health") == "http://x/health does not answer"


def test_the_dev_server_is_restarted_like_a_part_when_it_exits() -> None:
    """``roost up`` supervises the noida-db it started: an exit is announced and it is
    started again (here the second start stops the loop, to end the test)."""
    import io
    import subprocess

    from rich.console import Console

    from tests.conftest import make_settings

    class Restarted(Exception):
        pass

    def start_again() -> subprocess.Popen[bytes]:
        raise Restarted

    out = io.StringIO()
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(Restarted):
        supervisor._supervise(
            make_settings(up_restart_backoff_s=0.01),
            {supervisor.NOIDA: gone}, {supervisor.NOIDA: start_again},
            Console(file=out, width=200), "http://127.0.0.1:9")
    assert "noida-db exited (exit code 0); restarting it" in out.getvalue()


def _free_ports_settings(devserver: str) -> tuple[Settings, str, str]:
    from infra import devstack

    kafka = f"127.0.0.1:{devstack.free_port()}"
    search = f"http://127.0.0.1:{devstack.free_port()}"
    return (Settings(kafka_bootstrap=kafka, elasticsearch_url=search,
                     devserver=devserver),
            kafka, search)


def test_both_urls_set_mean_external_servers_unless_devserver_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A second checkout can have a dev server of its own on other ports: with both URLs
    set, ``roost up`` starts none (they are external) unless ``ROOST_DEVSERVER=start``;
    ports that already answer are used, not started again (the starter is never called
    here: nothing is started)."""
    from rich.console import Console

    quiet = Console(quiet=True)
    for devserver, started in (("auto", False), ("start", True)):
        settings, kafka, search = _free_ports_settings(devserver)
        monkeypatch.setenv("ROOST_KAFKA_BOOTSTRAP", kafka)
        monkeypatch.setenv("ROOST_ELASTICSEARCH_URL", search)
        assert (supervisor._noida_starter(settings, quiet) is not None) is started
    settings, _, _ = _free_ports_settings("auto")
    monkeypatch.delenv("ROOST_ELASTICSEARCH_URL")
    assert supervisor._noida_starter(settings, quiet) is not None  # one URL unset
