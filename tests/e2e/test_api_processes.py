"""Several API processes on one port (``ROOST_API_WORKERS``, infra/api_processes.py).

Each test talks to a ``roost api`` running 2 processes beside the session's stack
(same database; Redis keys of its own, so its rate-limit buckets start empty). Every
answer names the process that gave it (``Roost-Process``), and a keep-alive
connection stays with the process that accepted it: ``pinned`` opens connections
until it holds some on each process, so a test chooses which process answers.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from domain.ids import NODE_BITS, SEQUENCE_BITS
from infra import devstack
from tests.e2e.conftest import User, unique_name, wait_until
from tests.e2e.procfs import alive, descendants
from tests.e2e.stack import Stack

WORKERS = 2
LIMIT = 10  # requests per account per 600 s: none comes back while a test runs


def _process_api(stack: Stack, log_dir: Path) -> Stack:
    """A ``roost api`` of ``WORKERS`` processes on a port of its own, started."""
    settings = stack.settings.model_copy(update={
        "api_port": devstack.free_port(), "api_workers": WORKERS,
        "redis_prefix": f"{stack.settings.redis_prefix}procs-{unique_name('api')}:",
        "rate_limit_multiplier": 1.0, "rate_limit_requests": f"{LIMIT}/600",
    })
    api = Stack(settings, log_dir)
    api.start("api")
    try:  # /health would wait for a worker's heartbeat under its own prefix
        api.wait_healthy(path="/api/rate_limits")
    except BaseException:
        api.stop_all()
        raise
    return api


@pytest.fixture(scope="module")
def processes(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One multi-process API for the tests that leave it running as they found it."""
    api = _process_api(stack, tmp_path_factory.mktemp("processes"))
    try:
        yield api
    finally:
        api.stop_all()


@pytest.fixture
def own_processes(stack: Stack, tmp_path: Path) -> Iterator[Stack]:
    """A multi-process API for one test that stops or kills some of it."""
    api = _process_api(stack, tmp_path)
    try:
        yield api
    finally:
        api.stop_all()


class Pinned:
    """Keep-alive clients by the API process (pid) their connection reached."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.by_pid: dict[int, list[httpx.Client]] = {}

    def fill(self, processes: int, per_process: int = 1, timeout: float = 30.0) -> None:
        """Open connections (4 at once, so that busy processes leave some to the
        others) until ``processes`` processes hold ``per_process`` each."""
        def enough() -> bool:
            full = [pid for pid, held in self.by_pid.items() if len(held) >= per_process]
            if len(full) >= processes:
                return True
            batch = [httpx.Client(base_url=self.base_url, timeout=30) for _ in range(4)]
            with ThreadPoolExecutor(len(batch)) as pool:
                answers = list(pool.map(lambda c: c.get("/api/rate_limits"), batch))
            for client, answer in zip(batch, answers, strict=True):
                assert answer.status_code == 200, answer.text
                held = self.by_pid.setdefault(process_of(answer), [])
                if len(held) < per_process:
                    held.append(client)
                else:
                    client.close()
            return False

        wait_until(enough, timeout=timeout, interval=0,
                   failure=lambda: f"connections reached only {sorted(self.by_pid)}")

    def clients(self) -> list[httpx.Client]:
        """One client per process, in pid order."""
        return [held[0] for _, held in sorted(self.by_pid.items())]

    def close(self) -> None:
        for held in self.by_pid.values():
            for client in held:
                client.close()


@pytest.fixture
def pinned(processes: Stack) -> Iterator[Pinned]:
    found = Pinned(processes.base_url)
    try:
        yield found
    finally:
        found.close()


def process_of(response: httpx.Response) -> int:
    return int(response.headers["Roost-Process"])


def test_a_rate_limit_holds_across_processes(
        pinned: Pinned, signup: Callable[..., User]) -> None:
    user = signup("rl")
    pinned.fill(WORKERS)
    first, second = pinned.clients()
    answers = [(first, second)[n % 2].get("/api/rate_limits", headers=user.auth)
               for n in range(LIMIT)]
    assert [a.status_code for a in answers] == [200] * LIMIT
    assert [a.headers["X-RateLimit-Limit"] for a in answers] == [str(LIMIT)] * LIMIT
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == \
        list(range(LIMIT - 1, -1, -1))
    assert {process_of(a) for a in answers} == set(pinned.by_pid)  # both processes counted
    # The next one is refused by whichever process answers.
    refused = [client.get("/api/rate_limits", headers=user.auth) for client in (first, second)]
    assert [r.status_code for r in refused] == [429, 429]
    assert {process_of(r) for r in refused} == set(pinned.by_pid)
    for answer in refused:
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.json()["error"]["code"] == "rate_limited"
        assert answer.json()["error"]["details"]["action"] == "requests"


def test_an_idempotency_key_retried_at_once_on_several_processes_appends_once(
        pinned: Pinned, signup: Callable[..., User]) -> None:
    user = signup("ik")
    pinned.fill(WORKERS, per_process=2)
    clients = [client for held in pinned.by_pid.values() for client in held]
    key = {"Idempotency-Key": unique_name("key"), **user.auth}
    text = f"once across processes {unique_name()}"
    start = threading.Barrier(len(clients))

    def send(client: httpx.Client) -> httpx.Response:
        start.wait(timeout=30)
        return client.post("/api/posts", json={"text": text}, headers=key)

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(send, clients))
    assert {process_of(a) for a in answers} == set(pinned.by_pid)
    assert [a.status_code for a in answers] == [201] * len(answers), \
        [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotency-Replayed") != "true" for a in answers) == 1
    # The read models, once they include the post, hold it once.
    position = max(int(a.headers["Roost-Position"]) for a in answers)
    page = user.request("GET", f"/api/accounts/{user.username}/posts", position)
    assert page.status_code == 200, page.text
    assert [item["text"] for item in page.json()["items"]] == [text]


def test_each_process_makes_ids_as_a_node_of_its_own(
        pinned: Pinned, processes: Stack, signup: Callable[..., User]) -> None:
    user = signup("node")
    pinned.fill(WORKERS)
    nodes: dict[int, set[int]] = {}
    for client in pinned.clients():
        for n in range(2):
            answer = client.post("/api/posts", json={"text": f"node {n}"}, headers=user.auth)
            assert answer.status_code == 201, answer.text
            node = (int(answer.json()["id"]) >> SEQUENCE_BITS) & (2**NODE_BITS - 1)
            nodes.setdefault(process_of(answer), set()).add(node)
    assert all(len(found) == 1 for found in nodes.values()), nodes
    first, second = (found.pop() for found in nodes.values())
    assert first != second
    base = processes.settings.node_id
    assert {first, second} <= set(range(base, base + WORKERS + 1))


def _unmatched_count(metrics: str) -> float:
    found = re.search(r'^roost_http_request_duration_seconds_count\{method="GET",'
                      r'route="unmatched",status="404"\} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_sum_the_requests_of_every_process(pinned: Pinned) -> None:
    pinned.fill(WORKERS)
    first, second = pinned.clients()
    before = first.get("/metrics")
    sent = {first: 3, second: 4}
    for client, count in sent.items():
        for _ in range(count):
            assert client.get("/api/no-such-thing").status_code == 404
    after = second.get("/metrics")
    assert process_of(before) != process_of(after)
    assert _unmatched_count(after.text) - _unmatched_count(before.text) == sum(sent.values())
    # Every gauge has a mode that merges the processes: no sample is per pid.
    assert 'pid="' not in after.text
    assert re.search(r"^roost_live_subscriptions 0\.0$", after.text, re.MULTILINE)


def _process_pids(api: Stack) -> set[int]:
    """The pids of all ``WORKERS`` processes of ``api`` (each answered a request)."""
    pinned = Pinned(api.base_url)
    try:
        pinned.fill(WORKERS)
    finally:
        pinned.close()
    return set(pinned.by_pid)


def test_a_killed_process_is_replaced_while_the_port_keeps_answering(
        own_processes: Stack) -> None:
    victim, survivor = sorted(_process_pids(own_processes))
    os.kill(victim, signal.SIGKILL)
    seen: set[int] = set()

    def replaced() -> bool:
        with httpx.Client(base_url=own_processes.base_url, timeout=30) as fresh:
            answer = fresh.get("/api/rate_limits")  # a refused connection fails the test
        assert answer.status_code == 200, answer.text
        seen.add(process_of(answer))
        return bool(seen - {victim, survivor})

    wait_until(replaced, timeout=60, interval=0.05,
               failure=lambda: f"no new process answered; seen {sorted(seen)}")
    assert not alive(victim)
    assert own_processes.processes["api"].poll() is None


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_process(stop: signal.Signals, own_processes: Stack) -> None:
    workers = _process_pids(own_processes)
    parent = own_processes.processes["api"]
    family = descendants(parent.pid)
    assert workers <= family
    run_dirs = list(Path(tempfile.gettempdir()).glob(f"roost-api-{parent.pid}-*"))
    assert len(run_dirs) == 1  # the metrics and node slots of this start
    parent.send_signal(stop)
    assert parent.wait(30) == 0
    wait_until(lambda: not any(alive(pid) for pid in family), timeout=15,
               failure=lambda: f"still running: {[p for p in family if alive(p)]}")
    assert not devstack.port_open("127.0.0.1", own_processes.settings.api_port)
    assert not run_dirs[0].exists()


def test_processes_stop_when_their_supervisor_is_killed_and_a_new_one_starts(
        own_processes: Stack) -> None:
    workers = _process_pids(own_processes)
    killed = own_processes.processes["api"].pid
    family = descendants(killed)
    assert workers <= family
    own_processes.kill("api")  # SIGKILL: no chance to stop its processes itself
    wait_until(lambda: not any(alive(pid) for pid in family), timeout=30,
               failure=lambda: f"still running: {[p for p in family if alive(p)]}")
    assert not devstack.port_open("127.0.0.1", own_processes.settings.api_port)
    left = list(Path(tempfile.gettempdir()).glob(f"roost-api-{killed}-*"))
    assert len(left) == 1  # nobody was left to remove it
    # As roost up would: start it again; the port is free, the stale directory goes.
    own_processes.start("api")
    own_processes.wait_healthy(path="/api/rate_limits")
    assert not left[0].exists()
