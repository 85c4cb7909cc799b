"""The whole Roost stack as real processes, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from infra import devstack
from infra.settings import Settings

PARTS = ("api", "relay", "worker")


@dataclass
class Stack:
    """API, relay and worker processes sharing one set of settings."""

    settings: Settings
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def start(self, part: str) -> None:
        env = {**os.environ, **self.settings.as_env()}
        log = open(self.log_dir / f"{part}.log", "ab")  # noqa: SIM115
        self.processes[part] = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", part], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    def kill(self, part: str) -> None:
        """SIGKILL: no shutdown code runs, like a crash or an OOM kill."""
        process = self.processes.pop(part)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        devstack.stop_together(self.processes.values())
        self.processes.clear()

    def wait_healthy(self, timeout: float = 60.0, path: str = "/health") -> None:
        """Until ``path`` answers 200 (``/health``: every store and a worker are up)."""
        try:
            devstack.wait_for_http(f"{self.base_url}{path}", self.processes, timeout)
        except devstack.ProcessExited as exited:
            raise RuntimeError(f"{exited.name} exited: {self.tail(exited.name)}") from None
        except devstack.DevStackError as error:
            raise TimeoutError(f"stack not healthy: {error}: {self.tail('api')}") from None

    def tail(self, part: str, lines: int = 30) -> str:
        path = self.log_dir / f"{part}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if \
            path.exists() else ""
