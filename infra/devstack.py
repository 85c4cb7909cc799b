"""Local servers for development and tests: started from installed binaries.

PostgreSQL and Redis are normally system services; when none answers, a
project-local one is started from the system binaries under ``.roost/``.
Kafka and Elasticsearch come from the ``noida-db`` dev server (STACK.md).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

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


class ProcessExited(DevStackError):
    """A process that was to serve died while we waited for it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} exited")
        self.name = name


def wait_for_http(url: str, processes: Mapping[str, subprocess.Popen[bytes]],
                  timeout: float = 60.0) -> httpx.Response:
    """Poll ``url`` until it answers 200 (connection errors mean "not up yet"),
    failing fast if one of ``processes`` exits, and after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise ProcessExited(name)
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(url, timeout=3)
            if response.status_code == 200:
                return response
        time.sleep(0.1)
    raise DevStackError(f"{url} did not answer 200 within {timeout:.0f}s")


def interrupt_on_stop_signals() -> None:
    """Make SIGTERM, and SIGINT even where the shell started us ignoring it (``&``),
    raise KeyboardInterrupt, so a supervisor's ``finally`` stops what it started
    instead of dying and leaving its children running."""
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


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


def start_local_postgres(data_dir: Path, port: int) -> Callable[[], None]:
    """A project-local cluster with trust auth (not as root); returns its stopper."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise DevStackError(f"no PostgreSQL answers on port {port}. {INSTALL_HINT}")
    if os.geteuid() == 0:
        raise DevStackError(
            "no PostgreSQL answers, and a project-local one cannot run as root. Start the "
            f"system one, or install it: {INSTALL_HINT}"
        )
    if not (data_dir / "PG_VERSION").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([initdb, "-D", str(data_dir), "-U", "postgres", "--auth=trust"],
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [pg_ctl, "-D", str(data_dir), "-l", str(data_dir / "server.log"), "-w", "start",
         "-o", f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port)
    return _runner([pg_ctl, "-D", str(data_dir), "-m", "fast", "stop"])


def start_system_postgres() -> bool:
    """Start the machine's packaged cluster (Debian's pg_ctlcluster), if it has one."""
    pg_ctlcluster = shutil.which("pg_ctlcluster")
    versions = sorted(Path("/etc/postgresql").glob("*/main")) if pg_ctlcluster else []
    if not pg_ctlcluster or not versions:
        return False
    version = versions[-1].parent.name
    result = subprocess.run(
        [pg_ctlcluster, "--skip-systemctl-redirect", version, "main", "start"],
        capture_output=True, check=False,
    )
    return result.returncode == 0


def start_local_redis(port: int, data_dir: Path) -> Callable[[], None]:
    """A Redis that keeps nothing on disk, daemonised; returns its stopper."""
    redis_server = shutil.which("redis-server")
    if not redis_server:
        raise DevStackError(f"no Redis answers on port {port}. {INSTALL_HINT}")
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [redis_server, "--daemonize", "yes", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(data_dir),
         "--logfile", str(data_dir / "redis.log")],
        check=True, stdout=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port)
    return _runner([shutil.which("redis-cli") or "redis-cli", "-p", str(port), "shutdown",
                    "nosave"])


def ensure_postgres_and_redis(
    pg_host: str, pg_port: int, redis_host: str, redis_port: int, state_dir: Path,
    say: Callable[[str], None] = print,
) -> list[Callable[[], None]]:
    """Make both answer, starting them if needed; the stoppers of what was started."""
    stoppers: list[Callable[[], None]] = []
    if not port_open(pg_host, pg_port):
        say(f"PostgreSQL does not answer on {pg_host}:{pg_port}; starting it")
        if start_system_postgres() and _answers_soon(pg_host, pg_port):
            say("started the system PostgreSQL cluster")
        else:
            stoppers.append(start_local_postgres(state_dir / "postgres", pg_port))
    if not port_open(redis_host, redis_port):
        say(f"Redis does not answer on {redis_host}:{redis_port}; starting a local one")
        stoppers.append(start_local_redis(redis_port, state_dir / "redis"))
    return stoppers


def _runner(command: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL)

    return run


def _answers_soon(host: str, port: int) -> bool:
    try:
        wait_for_port(host, port, timeout=20)
    except DevStackError:
        return False
    return True


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
        start_new_session=True,  # its launcher does not forward signals: stop the group
    )
    wait_for_port("127.0.0.1", kafka_port)
    wait_for_port("127.0.0.1", es_port)
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a child and, if it leads its own process group, everything in it."""
    group = _own_group(process)
    _signal(process, group, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(process, group, signal.SIGKILL)
        process.wait()
    if group is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)  # stragglers the launcher left behind


def stop_together(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """Ask every process to stop at once, then wait for each (killing stragglers)."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _own_group(process: subprocess.Popen[bytes]) -> int | None:
    try:
        group = os.getpgid(process.pid)
    except ProcessLookupError:
        return None
    return group if group == process.pid else None


def _signal(process: subprocess.Popen[bytes], group: int | None, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group is not None:
            os.killpg(group, sig)
        elif process.poll() is None:
            process.send_signal(sig)
