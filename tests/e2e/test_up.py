"""``roost up`` stops every part it started, whichever way it is told to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from infra import devstack
from infra.database import drop_database
from tests.conftest import clear_redis_prefix, make_settings
from tests.e2e.conftest import wait_until


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_roost_up_stops_its_parts_when_told_to_stop(
        stop: signal.Signals, noida: dict[str, str], tmp_path: Path) -> None:
    settings = make_settings(**noida, api_port=devstack.free_port(),
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
        parts = _children(up.pid)
        assert len(parts) >= 3  # api, relay, worker
        up.send_signal(stop)
        assert up.wait(30) == 0
        wait_until(lambda: not any(_alive(p) for p in parts), timeout=15)
    finally:
        for pid in [up.pid, *parts]:  # whatever is left of a failed run
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        up.wait()
        drop_database(settings)
        clear_redis_prefix(settings)
