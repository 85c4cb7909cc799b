"""The fault tier's stack: every part of Roost against servers of its own.

The servers (tests/faults/servers.py) are private to this module's run, so a
test may stop them; the Roost parts are the e2e tier's ``Stack``. Before each
test the stack is brought back to health (a part a previous fault left dead is
started again), so one failing fault does not fail every test after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_stack, stack_settings, unique_name
from tests.e2e.stack import PARTS, Stack
from tests.faults.load import LoadUser
from tests.faults.servers import PrivateServers

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def servers() -> Iterator[PrivateServers]:
    private = PrivateServers()
    try:
        private.start()
        yield private
    finally:
        private.remove()


@pytest.fixture(scope="module")
def fault_stack(servers: PrivateServers, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Stack]:
    # A read waits at most 10 s for its Roost-Min-Position: the checks then see
    # Roost-Stale instead of a long hang.
    settings = stack_settings(**servers.settings_overrides(), min_position_wait_s=10.0)
    log_dir: Path = tmp_path_factory.mktemp("fault-logs")
    with running_stack(settings, log_dir) as running:
        yield running


@pytest.fixture
def stack(fault_stack: Stack) -> Stack:
    """The fault stack, healthy: parts that died are started again first."""
    for part in PARTS:
        process = fault_stack.processes.get(part)
        if process is None or process.poll() is not None:
            fault_stack.processes.pop(part, None)
            fault_stack.start(part)
    try:
        fault_stack.wait_healthy(timeout=30)
    except (RuntimeError, TimeoutError):  # a part alive but stuck: start all afresh
        fault_stack.stop_all()
        for part in PARTS:
            fault_stack.start(part)
        fault_stack.wait_healthy(timeout=60)
    return fault_stack


def sign_up(client: httpx.Client, prefix: str) -> LoadUser:
    """A new account, logged in."""
    username = unique_name(prefix)
    password = "correct horse battery"
    created = client.post("/api/accounts", json={
        "username": username, "email": f"{username}@example.com", "password": password})
    assert created.status_code == 201, created.text
    login = client.post("/api/sessions", json={"login": username, "password": password})
    assert login.status_code == 200, login.text
    return LoadUser(username, created.json()["id"], login.json()["access_token"])
