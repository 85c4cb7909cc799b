"""``roost projections rebuild read_models`` (and ``timelines``, the Redis copies) on
a running stack, under load.

Threads post, follow and unfollow through the API and read home timelines,
accounts, posts, tag timelines and search results while the operator's command
builds the next copy of the projection beside the live one and switches to it.
Not one read fails or comes back empty, and afterwards ``roost projections
verify`` finds the new copy identical to a build from scratch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import User, wait_until
from tests.e2e.stack import Stack


def roost(stack: Stack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``roost <args>`` against the stack's settings."""
    env = {**os.environ, **stack.settings.as_env(), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def live_copy(stack: Stack, name: str) -> str:
    done = roost(stack, "projections", "status", "--sample", "0", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in map(json.loads, done.stdout.splitlines())}
    return str(rows[name]["live"])


class Load:
    """Writer and reader threads on their own clients; every failed or empty read is
    kept in ``bad``."""

    def __init__(self, stack: Stack, users: list[User], tag: str, post_id: str) -> None:
        self.stack = stack
        self.users = users
        self.tag = tag
        self.post_id = post_id
        self.stop = threading.Event()
        self.bad: list[str] = []
        self.reads = 0
        self.writes = 0
        self.lock = threading.Lock()

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.stack.base_url, timeout=30)

    def _read(self, check: Callable[[httpx.Client], str | None]) -> None:
        with self._client() as http:
            while not self.stop.is_set():
                try:
                    problem = check(http)
                except httpx.HTTPError as error:
                    problem = repr(error)
                with self.lock:
                    self.reads += 1
                    if problem:
                        self.bad.append(problem)

    def home(self, http: httpx.Client) -> str | None:
        reader = self.users[0]
        got = http.get("/api/timelines/home", headers=reader.auth, params={"limit": 20})
        if got.status_code != 200 or not got.json()["items"]:
            return f"home {got.status_code} {got.text[:200]}"
        return None

    def account(self, http: httpx.Client) -> str | None:
        user = self.users[1]
        got = http.get(f"/api/accounts/{user.username}")
        if got.status_code != 200 or got.json()["username"] != user.username:
            return f"account {got.status_code} {got.text[:200]}"
        return None

    def post_and_tag(self, http: httpx.Client) -> str | None:
        got = http.get(f"/api/posts/{self.post_id}")
        if got.status_code != 200:
            return f"post {got.status_code} {got.text[:200]}"
        tagged = http.get(f"/api/timelines/tag/{self.tag}")
        if tagged.status_code != 200 or not tagged.json()["items"]:
            return f"tag {tagged.status_code} {tagged.text[:200]}"
        return None

    def search(self, http: httpx.Client) -> str | None:
        got = http.get("/api/search", params={"q": self.tag, "type": "posts"})
        if got.status_code != 200 or not got.json()["items"]:
            return f"search {got.status_code} {got.text[:200]}"
        return None

    def write(self, author: User, other: User) -> None:
        with self._client() as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                posted = http.post("/api/posts", headers=author.auth,
                                   json={"text": f"load {n} #{self.tag}"})
                verb = "POST" if n % 2 else "DELETE"
                followed = http.request(verb, f"/api/accounts/{other.username}/follow",
                                        headers=author.auth)
                with self.lock:
                    self.writes += 1
                    if posted.status_code != 201 or followed.status_code != 200:
                        self.bad.append(f"write {posted.status_code} {followed.status_code}")

    def threads(self) -> list[threading.Thread]:
        readers = [self.home, self.account, self.post_and_tag, self.search]
        made = [threading.Thread(target=self._read, args=(r,)) for r in readers]
        made += [threading.Thread(target=self.write, args=(self.users[i], self.users[i + 1]))
                 for i in (1, 2)]
        return made


@pytest.mark.parametrize("name", ["read_models", "timelines"])
def test_rebuild_under_load_switches_with_no_failed_read_and_verifies_clean(
        stack: Stack, signup: Callable[..., User], name: str) -> None:
    users = [signup("rb") for _ in range(4)]
    tag = f"rebuild{users[0].username[-6:]}"
    for user in users[1:]:
        users[0].follow(user)
    first, at = users[1].post(f"first #{tag}")
    for user in users:  # every read below has something to find before the load starts
        assert user.home(min_position=at).status_code == 200
    wait_until(lambda: bool(httpx.get(f"{stack.base_url}/api/search",
                                      params={"q": tag, "type": "posts"}).json()["items"]))
    before = live_copy(stack, name)

    load = Load(stack, users, tag, str(first["id"]))
    running = load.threads()
    for thread in running:
        thread.start()
    health: list[dict[str, Any]] = []
    try:
        wait_until(lambda: load.writes >= 5 and load.reads >= 20)
        command = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "projections", "rebuild", name],
            env={**os.environ, **stack.settings.as_env(), "ROOST_REBUILD_RETIRE_GRACE_S": "1"},
            text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while command.poll() is None:
            health.append(httpx.get(f"{stack.base_url}/health", timeout=30).json())
        out, err = command.communicate()
        assert command.returncode == 0, err[-2000:]
        switched_at = load.reads, load.writes
        wait_until(lambda: load.reads >= switched_at[0] + 20
                   and load.writes >= switched_at[1] + 5)
    finally:
        load.stop.set()
        for thread in running:
            thread.join(timeout=60)
    assert load.bad == []
    assert "now served by copy" in out
    after = live_copy(stack, name)
    assert after != before
    assert all(h["status"] == "ok" for h in health), [
        (h.get("failing"), h["checks"]) for h in health if h["status"] != "ok"]
    seen = {h["checks"].get("rebuilds") for h in health}
    assert seen <= {"ok"} | {c for c in seen if c and c.startswith(f"rebuilding {name}")}

    # The worker applied the load's last events to the new copy: a fresh build matches it.
    last = users[1].post(f"last #{tag}")[1]
    assert users[1].request("GET", "/api/timelines/home", min_position=last).status_code == 200
    verified = roost(stack, "projections", "verify", name, "--json")
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]
    differences = [line for line in verified.stdout.splitlines() if '"table"' in line]
    assert differences == []
    metrics = httpx.get(f"{stack.base_url}/metrics").text
    assert f'roost_projection_version{{copy="live",projector="{name}"}}' in metrics
