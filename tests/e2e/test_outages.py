"""The relay and the worker survive a Redis outage: neither exits, /health says what
is down meanwhile, and projecting resumes when Redis returns. A worker that lives
but does not consume is reported as such.

The Redis is a private one on a free port (never the machine's shared server)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from infra import devstack
from tests.e2e.conftest import User, position, running_stack, stack_settings, wait_until
from tests.e2e.stack import PARTS, Stack


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = devstack.free_port()
    stop = devstack.start_local_redis(port, tmp_path_factory.mktemp("redis"))
    try:
        yield port
    finally:
        stop()


@pytest.fixture(scope="module")
def stack(noida: dict[str, str], redis_port: int, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    settings = stack_settings(
        **noida, redis_url=f"redis://127.0.0.1:{redis_port}/0",
        redis_cluster=False,  # a private single Redis, stopped and started by these tests
        heartbeat_interval_s=0.5, heartbeat_ttl_s=3.0,
        health_max_worker_silence_s=3.0, health_max_projection_stall_s=3.0,
    )
    with running_stack(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running


def _status(client: httpx.Client) -> tuple[int, list[str]]:
    response = client.get("/health")
    return response.status_code, response.json().get("failing", [])


def test_worker_and_relay_survive_a_redis_outage_and_resume(
    stack: Stack, signup: Callable[..., User], client: httpx.Client, redis_port: int,
    tmp_path: Path,
) -> None:
    author, reader = signup("outage"), signup("reader")
    follow = reader.request("POST", f"/api/accounts/{author.username}/follow")
    assert reader.home_ids(position(follow)) == []
    first, at = author.post("before the outage")
    assert first["id"] in reader.home_ids(at)

    subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"], check=False,
                   stdout=subprocess.DEVNULL)
    wait_until(lambda: "redis" in _status(client)[1], timeout=15)
    # the worker's heartbeat expires, and its loops fail and back off meanwhile
    wait_until(lambda: "worker" in _status(client)[1], timeout=15)
    wait_until(lambda: '"task.failed"' in stack.tail("worker", 200), timeout=30)
    assert all(stack.processes[part].poll() is None for part in ("relay", "worker"))

    devstack.start_local_redis(redis_port, tmp_path / "redis")
    wait_until(lambda: _status(client)[0] == 200, timeout=60)
    assert all(stack.processes[part].poll() is None for part in PARTS)
    # Redis came back empty: timelines are replayed from the event store, and the
    # projectors keep up with what is written now
    second, at = author.post("after the outage")
    assert reader.home_ids(at)[:2] == [second["id"], first["id"]]


def test_health_names_a_worker_that_lives_but_does_not_consume(
    stack: Stack, signup: Callable[..., User], client: httpx.Client,
) -> None:
    """The read models' position row is locked by someone else: the worker's loops block
    (the process is fine, its timer would still tick) and /health says so."""
    author = signup("stuck")
    wait_until(lambda: _status(client)[0] == 200, timeout=30)
    with psycopg.connect(stack.settings.postgres_conninfo) as blocker:
        blocker.execute("SELECT * FROM projection_positions WHERE name = 'read_models' "
                        "FOR UPDATE")
        created, at = author.post("waits behind the lock")
        wait_until(lambda: {"worker", "read_models"} <= set(_status(client)[1]), timeout=30)
        checks = client.get("/health").json()["checks"]
        assert "worker is not consuming: no progress in read_models" in checks["worker"]
        assert checks["read_models"].startswith("error: read_models has not advanced")
        assert checks["timelines"] == "ok"  # the other projector keeps going
        assert stack.processes["worker"].poll() is None
        blocker.rollback()
    wait_until(lambda: _status(client)[0] == 200, timeout=30)
    shown = author.request("GET", f"/api/posts/{created['id']}", at)
    assert shown.status_code == 200 and shown.headers.get("Roost-Stale") is None
