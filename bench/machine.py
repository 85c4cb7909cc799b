"""The machine and servers a run's numbers come from."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import redis

from infra.settings import Settings


def redis_pid(settings: Settings) -> int:
    """The Redis server's process id (to meter its CPU)."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        return int(client.info("server").get("process_id", 0))
    finally:
        client.close()


def server_versions(settings: Settings) -> dict[str, str]:
    """PostgreSQL's and Redis's versions."""
    with psycopg.connect(settings.postgres_conninfo) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    client = redis.Redis.from_url(settings.redis_url)
    try:
        version = str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()
    return {"postgres": f"PostgreSQL {row[0] if row else '?'}", "redis": version}


def machine_info() -> dict[str, Any]:
    """The machine the numbers came from."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                           check=False).stdout.strip() != ""
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "git_commit": commit + ("+dirty" if dirty else ""),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
