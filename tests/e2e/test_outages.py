"""The relay and the worker survive a Redis outage: neither exits, /health says what
is down meanwhile, and projecting resumes when Redis returns.

The Redis is a private one on a free port (never the machine's shared server)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from infra import devstack
from infra.database import drop_database, migrate
from tests.conftest import make_settings
from tests.e2e.conftest import User, position, wait_until
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
    settings = make_settings(
        **noida, api_port=devstack.free_port(), redis_url=f"redis://127.0.0.1:{redis_port}/0",
        kafka_topic=f"roost.events.{uuid.uuid4().hex[:8]}", min_position_wait_s=30.0,
        heartbeat_interval_s=0.5, heartbeat_ttl_s=3.0,
    )
    migrate(settings)
    running = Stack(settings, tmp_path_factory.mktemp("logs"))
    try:
        for part in PARTS:
            running.start(part)
        running.wait_healthy()
        yield running
    finally:
        running.stop_all()
        drop_database(settings)


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
