"""``roost up``: the whole stack in the foreground, stopped together by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from rich.console import Console

from infra import devstack
from infra.database import migrate
from infra.settings import Settings

PARTS = ("api", "relay", "worker")


def ensure_services(settings: Settings, console: Console, state: Path
                    ) -> list[Callable[[], None]]:
    """PostgreSQL and Redis answer after this (started if they did not)."""
    redis_url = urlparse(settings.redis_url)
    return devstack.ensure_postgres_and_redis(
        settings.postgres_host, settings.postgres_port, redis_url.hostname or "127.0.0.1",
        redis_url.port or 6379, state, console.print,
    )


def _ensure_noida(settings: Settings, console: Console) -> list[subprocess.Popen[bytes]]:
    """Start the dev broker/search server unless external URLs are configured."""
    if "ROOST_KAFKA_BOOTSTRAP" in os.environ and "ROOST_ELASTICSEARCH_URL" in os.environ:
        return []
    kafka_port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    es_port = urlparse(settings.elasticsearch_url).port or 9200
    if devstack.port_open("127.0.0.1", kafka_port) and devstack.port_open("127.0.0.1", es_port):
        console.print("Kafka and Elasticsearch dev servers already answer; using them")
        return []
    console.print(f"starting noida-db (Kafka :{kafka_port}, Elasticsearch :{es_port})")
    data_dir = Path(settings.devserver_data_dir)
    return [devstack.start_noida(data_dir, kafka_port, es_port, data_dir.parent / "noida.log")]


def run_stack(settings: Settings, console: Console) -> int:
    devstack.interrupt_on_stop_signals()
    state = Path(".roost")
    state.mkdir(exist_ok=True)
    servers: list[subprocess.Popen[bytes]] = []
    parts: list[subprocess.Popen[bytes]] = []
    stoppers: list[Callable[[], None]] = []
    try:
        stoppers += ensure_services(settings, console, state)
        servers += _ensure_noida(settings, console)
        migrate(settings)
        for part in PARTS:
            parts.append(subprocess.Popen([sys.executable, "-m", "infra.cli", part]))
        base = f"http://{settings.api_host}:{settings.api_port}"
        try:
            devstack.wait_for_http(f"{base}/health", dict(zip(PARTS, parts, strict=True)))
        except devstack.DevStackError as error:
            console.print(f"[red]Roost did not become healthy ({error}); see the logs above[/red]")
            return 1
        console.print(f"[bold green]Roost is up[/bold green]\n  API     {base}/api\n"
                      f"  docs    {base}/docs\n  health  {base}/health\n"
                      f"  metrics {base}/metrics\nPress Ctrl-C to stop.")
        while all(part.poll() is None for part in parts):
            time.sleep(0.5)
        console.print("[red]a part of Roost exited; stopping everything[/red]")
        return 1
    except KeyboardInterrupt:
        console.print("stopping Roost")
        return 0
    except devstack.DevStackError as error:
        console.print(f"[red]{error}[/red]")
        return 1
    finally:
        for process in reversed(parts):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        # The parts first, then the servers they talk to while shutting down.
        for process in [*reversed(parts), *reversed(servers)]:
            devstack.stop(process)
        for stop_server in reversed(stoppers):
            stop_server()
