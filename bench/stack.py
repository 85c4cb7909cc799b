"""The real stack for a benchmark run: own database, Redis prefix, ports and broker.

Everything is isolated from other users of the machine: a database named
``roost_bench_<run>``, Redis keys under ``bench-<run>:``, free ports, and a
noida-db (Kafka + Elasticsearch) on a fresh data directory. ``close()`` stops
what was started and removes what was written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from infra import devstack
from infra.database import drop_database, migrate
from infra.settings import Settings

PARTS = ("api", "relay", "worker")

# Weak password hashing: only the bulk load signs up (10,000s of) accounts, and
# the load generator uses minted tokens, so no login in the measured phases
# pays argon2. Production keeps the defaults.
WEAK_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}


def bench_settings(run: str, api_port: int, kafka_port: int, es_port: int,
                   overrides: dict[str, Any] | None = None) -> Settings:
    """Settings for one run; unknown override names are ignored (the code moves)."""
    values: dict[str, Any] = {
        "environment": "development",
        "postgres_dbname": f"roost_bench_{run}",
        "redis_prefix": f"bench-{run}:",
        "api_port": api_port,
        "kafka_bootstrap": f"127.0.0.1:{kafka_port}",
        "elasticsearch_url": f"http://127.0.0.1:{es_port}",
        "kafka_topic": f"roost.bench.{run}",
        "access_token_ttl_s": 12 * 3600,
        "rate_limit_multiplier": 1_000_000,  # measure the system, not its throttle
        # Free ports for the relay's and worker's metrics: the defaults (9101, 9102)
        # may be taken by another stack on the machine.
        "relay_metrics_port": devstack.free_port(),
        "worker_metrics_port": devstack.free_port(),
        "log_level": "WARNING",
        # One API process unless overridden (``python -m bench --api-workers N``):
        # with N > 1 the API's pid is a supervisor and its children serve; the CPU
        # and memory figures count them all (``BenchStack.api_pids``).
        "api_workers": 1,
        **WEAK_ARGON2,
        **(overrides or {}),
    }
    known = Settings.model_fields
    return Settings(**{k: v for k, v in values.items() if k in known})


@dataclass
class BenchStack:
    """Servers and Roost processes of one run, and how to stop and clean them."""

    settings: Settings
    work_dir: Path
    noida: subprocess.Popen[bytes] | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def create(cls, overrides: dict[str, Any] | None = None) -> BenchStack:
        run = uuid.uuid4().hex[:8]
        work_dir = Path(tempfile.mkdtemp(prefix=f"roost-bench-{run}-"))
        kafka_port, es_port, api_port = (devstack.free_port() for _ in range(3))
        settings = bench_settings(run, api_port, kafka_port, es_port, overrides)
        stack = cls(settings, work_dir)
        stack.noida = devstack.start_noida(work_dir / "noida", kafka_port, es_port,
                                           work_dir / "noida.log")
        migrate(settings)
        return stack

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def env(self) -> dict[str, str]:
        """Settings as ROOST_* variables; temporary files inside the run's own directory."""
        tmp = self.work_dir / "tmp"
        # The worker's Faust app keeps a datadir under $TMPDIR/roost-faust and does not
        # create that parent itself (streams/faust_app.py): give it one.
        (tmp / "roost-faust").mkdir(parents=True, exist_ok=True)
        return {**os.environ, **self.settings.as_env(), "TMPDIR": str(tmp)}

    def check_alive(self) -> None:
        """Raise, with the end of its log, if a part of the stack has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def start(self, parts: tuple[str, ...] = PARTS) -> None:
        for part in parts:
            log = open(self.work_dir / f"{part}.log", "ab")  # noqa: SIM115
            self.processes[part] = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", part], env=self.env(), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def wait_healthy(self, timeout: float = 90.0) -> dict[str, Any]:
        try:
            response = devstack.wait_for_http(f"{self.base_url}/health", self.processes,
                                              timeout)
        except devstack.ProcessExited as exited:
            raise RuntimeError(f"{exited.name} exited:\n{self.tail(exited.name)}") from None
        except devstack.DevStackError as error:
            raise TimeoutError(f"stack not healthy: {error}:\n{self.tail('api')}") from None
        body: dict[str, Any] = response.json()
        return body

    def pids(self) -> dict[str, int]:
        found = {name: p.pid for name, p in self.processes.items() if p.poll() is None}
        if self.noida is not None and self.noida.poll() is None:
            found["noida-db"] = self.noida.pid
        return found

    def api_pids(self) -> list[int]:
        """The API's process and all its descendants (the serving processes when
        ``api_workers`` > 1, and multiprocessing's helpers)."""
        process = self.processes.get("api")
        if process is None or process.poll() is not None:
            return []
        return [process.pid, *descendants(process.pid)]

    def wait_api_processes(self, timeout: float = 60.0) -> list[int]:
        """Wait until all ``api_workers`` serving processes run (the health check
        needs only one); the API's pids (``api_pids``).

        Raises:
            TimeoutError: fewer serving processes than ``api_workers`` in time.
        """
        wanted = self.settings.api_workers
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            serving = serving_api_processes(self.api_pids())
            if wanted <= 1 or len(serving) >= wanted:
                return self.api_pids()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(serving)} of {wanted} API processes running:\n"
                                   f"{self.tail('api')}")
            time.sleep(0.2)

    def tail(self, part: str, lines: int = 40) -> str:
        path = self.work_dir / f"{part}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_parts(self) -> None:
        devstack.stop_together(self.processes.values())
        self.processes.clear()

    def close(self, keep: bool = False) -> None:
        """Stop everything; unless ``keep``, drop the database and the Redis keys."""
        self.stop_parts()
        if self.noida is not None:
            devstack.stop(self.noida)
            self.noida = None
        if not keep:
            drop_database(self.settings)
            clear_redis_prefix(self.settings)
            shutil.rmtree(self.work_dir, ignore_errors=True)


def clear_redis_prefix(settings: Settings) -> int:
    """Remove every key under the run's prefix; how many were removed."""
    client = redis.Redis.from_url(settings.redis_url)
    removed = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{settings.redis_prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            removed += int(client.unlink(*batch))
            batch.clear()
    if batch:
        removed += int(client.unlink(*batch))
    client.close()
    return removed


def rss_bytes(pid: int, with_children: bool = False) -> int:
    """Resident memory of a process (and its descendants) from /proc."""
    total = _vmrss(pid)
    if with_children:
        for child in descendants(pid):
            total += _vmrss(child)
    return total


def _vmrss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """The ids of every descendant of a process (children, theirs, ...), from /proc."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children.extend(int(c) for c in text)
    return children + [d for c in children for d in descendants(c)]


def serving_api_processes(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are processes spawned by uvicorn's supervisor (by their
    command line: ``multiprocessing.spawn``'s, not its resource tracker's)."""
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
