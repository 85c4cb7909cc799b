"""Private PostgreSQL, Redis and noida-db servers that tests may stop and start.

The fault tier takes its dependencies down on purpose, so it never uses the
machine's shared servers: each server here runs from the installed binaries
on a free port, with its data under a temporary directory, and ``stop()`` /
``start()`` really end and restart the server process on the same port and
data directory (data kept), the way an outage and a recovery look to Roost.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from infra import devstack

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"  # PostgreSQL refuses to run as root


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` OS user when we are root."""
    return ["runuser", "-u", PG_OS_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL 15 cluster: trust auth, 127.0.0.1 only, fsync off."""

    port: int = field(default_factory=devstack.free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roost-pg-")))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def init(self) -> None:
        """Create the cluster (the directory must be the postgres user's)."""
        if os.geteuid() == 0:
            shutil.chown(self.root, user=PG_OS_USER, group=PG_OS_USER)
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                          "--auth=trust", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
                   # synchronous_commit stays on: an immediate stop must keep every
                   # acknowledged commit, as a real server does.
                   "-c fsync=off -c full_page_writes=off "
                   "-c max_connections=200")
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l",
                          str(self.root / "server.log"), "-w", "-t", "60", "start",
                          "-o", options]),
            check=True, stdout=subprocess.DEVNULL,
        )
        devstack.wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        """An immediate stop: connections drop as when the server crashes."""
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-w", "-m",
                          "immediate", "stop"]),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRedis:
    """A Redis that keeps nothing on disk: a restart loses every key, as a crash of
    a Redis run without persistence does."""

    port: int = field(default_factory=devstack.free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roost-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.root / "redis.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        devstack.wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        """SIGKILL: the server is gone at once, and with it every key."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateNoida:
    """The Kafka- and Elasticsearch-compatible dev server; data kept across restarts."""

    kafka_port: int = field(default_factory=devstack.free_port)
    es_port: int = field(default_factory=devstack.free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roost-noida-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def elasticsearch_url(self) -> str:
        return f"http://127.0.0.1:{self.es_port}"

    def start(self) -> None:
        self.process = devstack.start_noida(self.root / "data", self.kafka_port, self.es_port,
                                            self.root / "noida.log")

    def stop(self) -> None:
        if self.process is not None:
            devstack.stop(self.process)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateServers:
    """PostgreSQL, Redis and noida-db of one test module, by the name ``/health`` uses."""

    postgres: PrivatePostgres = field(default_factory=PrivatePostgres)
    redis: PrivateRedis = field(default_factory=PrivateRedis)
    broker: PrivateNoida = field(default_factory=PrivateNoida)

    def start(self) -> None:
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        self.broker.start()

    def remove(self) -> None:
        for server in (self.broker, self.redis, self.postgres):
            server.remove()

    def settings_overrides(self) -> dict[str, object]:
        """The ``make_settings`` overrides that point Roost at these servers."""
        return {
            "postgres_host": "127.0.0.1", "postgres_port": self.postgres.port,
            "redis_url": self.redis.url, "kafka_bootstrap": self.broker.kafka_bootstrap,
            "elasticsearch_url": self.broker.elasticsearch_url,
        }
