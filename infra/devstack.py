"""Local servers for development and tests: started from installed binaries.

PostgreSQL and Redis are normally system services; when none answers, a
project-local one is started from the system binaries under ``.roost/``.
Kafka and Elasticsearch come from the ``noida-db`` dev server (STACK.md).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL and Redis are needed. On Debian/Ubuntu: "
    "sudo apt-get install postgresql redis-server"
)


class DevStackError(RuntimeError):
    """A local server could not be started; the message says what to do."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise DevStackError(f"nothing answered on {host}:{port} within {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def start_local_postgres(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """A throwaway cluster with trust auth for the current user and ``postgres``."""
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if not initdb or not postgres:
        raise DevStackError(f"no PostgreSQL answers on port {port}. {INSTALL_HINT}")
    if os.geteuid() == 0:
        raise DevStackError(
            "no PostgreSQL answers and a project-local one cannot run as root; start the "
            "system service: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start"
        )
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([initdb, "-D", str(data_dir), "-U", "postgres", "--auth=trust"],
                       check=True, stdout=subprocess.DEVNULL)
    process = subprocess.Popen(
        [postgres, "-D", str(data_dir), "-p", str(port), "-k", str(data_dir),
         "-c", "listen_addresses=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port)
    return process


def start_local_redis(port: int) -> subprocess.Popen[bytes]:
    redis_server = shutil.which("redis-server")
    if not redis_server:
        raise DevStackError(f"no Redis answers on port {port}. {INSTALL_HINT}")
    process = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port)
    return process


def noida_binary() -> str:
    found = shutil.which("noida-db") or str(Path(sys.executable).with_name("noida-db"))
    if not Path(found).exists():
        raise DevStackError("noida-db is not installed: pip install noida-db==0.2.3")
    return found


def start_noida(data_dir: Path, kafka_port: int, es_port: int,
                log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """The Kafka- and Elasticsearch-compatible dev server, in the foreground."""
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [noida_binary(), "start", "--only", "elasticsearch,kafka", "--kafka-port",
         str(kafka_port), "--elasticsearch-port", str(es_port), "--data-dir", str(data_dir)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", kafka_port)
    wait_for_port("127.0.0.1", es_port)
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
