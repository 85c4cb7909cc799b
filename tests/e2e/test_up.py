"""``roost up`` stops every part it started, whichever way it is told to stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from infra import devstack
from infra.database import drop_database
from infra.settings import Settings
from tests.conftest import clear_redis_prefix, make_settings
from tests.e2e.conftest import wait_until
from tests.e2e.procfs import alive, children, descendants


@pytest.mark.parametrize(("stop", "api_workers"),
                         [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_roost_up_stops_its_parts_when_told_to_stop(
        stop: signal.Signals, api_workers: int, noida: dict[str, str], tmp_path: Path) -> None:
    settings = make_settings(**noida, api_port=devstack.free_port(), api_workers=api_workers,
                             kafka_topic=f"roost.events.{uuid.uuid4().hex[:8]}")
    up = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "up"], cwd=tmp_path,
        env={**os.environ, **settings.as_env(), "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # As a shell's "&" starts it: SIGINT ignored, which Python then leaves ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    parts: set[int] = set()
    try:
        devstack.wait_for_http(f"http://127.0.0.1:{settings.api_port}/health", {"up": up},
                               timeout=60)
        parts = descendants(up.pid)  # with several API processes, theirs too
        assert len(parts) >= 3 + (api_workers if api_workers > 1 else 0)
        up.send_signal(stop)
        assert up.wait(30) == 0
        wait_until(lambda: not any(alive(p) for p in parts), timeout=15)
    finally:
        for pid in [up.pid, *parts]:  # whatever is left of a failed run
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        up.wait()
        drop_database(settings)
        clear_redis_prefix(settings)


def _start_up(settings: Settings, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``roost up`` in ``cwd`` with ``settings``, its output (and its parts') in ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "up"], cwd=cwd,
            env={**os.environ, **settings.as_env(), "PYTHONPATH": str(Path.cwd()),
                 "COLUMNS": "200"},
            stdout=out, stderr=subprocess.STDOUT)


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _part_pid(up: int, part: str) -> int | None:
    found = [p for p in children(up) if alive(p) and part in _cmdline(p)[-2:]]
    return found[0] if found else None


def test_roost_up_restarts_a_killed_worker_and_health_says_so_meanwhile(
        noida: dict[str, str], tmp_path: Path) -> None:
    # Heartbeats that expire in 2 s and a first restart after 6 s: the worker is
    # visibly gone for a few seconds before roost up brings it back.
    settings = make_settings(**noida, api_port=devstack.free_port(),
                             kafka_topic=f"roost.events.{uuid.uuid4().hex[:8]}",
                             heartbeat_interval_s=0.5, heartbeat_ttl_s=2.0,
                             up_restart_backoff_s=6.0)
    log = tmp_path / "up.log"
    up = _start_up(settings, tmp_path, log)
    base = f"http://127.0.0.1:{settings.api_port}"
    seen: list[httpx.Response] = []

    def health(status: int) -> bool:
        try:
            response = httpx.get(f"{base}/health", timeout=5)
        except httpx.HTTPError:
            return False
        seen.append(response)
        return response.status_code == status

    try:
        devstack.wait_for_http(f"{base}/health", {"up": up}, timeout=60)
        worker = _part_pid(up.pid, "worker")
        assert worker is not None
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: health(503), timeout=15, interval=0.1)
        assert "worker" in seen[-1].json()["failing"], seen[-1].text
        assert seen[-1].json()["checks"]["worker"].startswith("error: no worker")
        wait_until(lambda: health(200), timeout=60, interval=0.2)
        assert up.poll() is None  # roost up kept serving
        restarted = _part_pid(up.pid, "worker")
        assert restarted is not None and restarted != worker
        assert "worker exited (killed by SIGKILL); restarting it" in log.read_text()
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
        # every line is JSON: the parts' and roost up's own (the restart, the stop)
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        not_json = [line for line in lines if not _is_json_object(line)]
        assert not not_json, not_json[:5]
        said = [e for e in map(json.loads, lines)
                if e.get("process") == "up" and e["event"] == "up"]
        assert {"Roost is up", "stopping Roost"} <= {e["message"].split("\n")[0] for e in said}
        assert any(e["level"] == "warning" and "restarting it" in e["message"] for e in said)
    finally:
        parts = children(up.pid)
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                up.kill()
        for pid in parts:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        up.wait()
        drop_database(settings)
        clear_redis_prefix(settings)


def test_roost_up_stops_everything_when_a_part_crash_loops_and_names_it(
        noida: dict[str, str], tmp_path: Path) -> None:
    # The worker's metrics port is taken: it exits at every start, the others run.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(**noida, api_port=devstack.free_port(),
                                 kafka_topic=f"roost.events.{uuid.uuid4().hex[:8]}",
                                 worker_metrics_port=taken.getsockname()[1],
                                 up_max_restarts=3, up_restart_backoff_s=0.2)
        log = tmp_path / "up.log"
        up = _start_up(settings, tmp_path, log)
        parts: set[int] = set()

        def exited() -> bool:
            parts.update(children(up.pid))  # every part it started, to check they end
            return up.poll() is not None

        try:
            wait_until(exited, timeout=120, interval=0.05)
            output = log.read_text()
            assert up.returncode == 1, output
            assert "worker exited (exit code 1); restarting it" in output
            assert "worker crash-looped: 3 exits within 60s (last: exit code 1); stopping " \
                "everything" in " ".join(output.split())
            wait_until(lambda: not any(alive(p) for p in parts), timeout=15)
        finally:
            for pid in [up.pid, *parts]:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            up.wait()
            drop_database(settings)
            clear_redis_prefix(settings)
