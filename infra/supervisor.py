"""``roost up``: the whole stack in the foreground, stopped together by Ctrl-C.

A part (API, relay, worker, and the dev noida-db server when ``roost up`` started
it) that exits unexpectedly is restarted with backoff,
and why it exited is printed; one that crash-loops (``ROOST_UP_MAX_RESTARTS``
exits within ``ROOST_UP_RESTART_WINDOW_S``) stops everything, naming it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import httpx
import structlog
from rich.console import Console
from rich.text import Text

from infra import devstack
from infra.database import migrate
from infra.logging import configure_logging
from infra.settings import Settings

PARTS = ("api", "relay", "worker")
STARTUP_TIMEOUT_S = 60.0
log = structlog.get_logger("roost.up")


class Printer(Protocol):
    """Where ``roost up`` says what it does: a rich ``Console``, or ``JsonLines``."""

    def print(self, text: str, /) -> None: ...


class JsonLines:
    """``roost up``'s messages as JSON log lines (``ROOST_LOG_JSON``, the default), like
    every part's: ``{"event": "up", "message": <the text, without markup>, "process":
    "up", "level": ...}``; red text is an error, yellow a warning."""

    _LEVELS = (("[red]", "error"), ("[yellow]", "warning"))

    def print(self, text: str, /) -> None:
        level = next((name for tag, name in self._LEVELS if text.startswith(tag)), "info")
        getattr(log, level)("up", message=Text.from_markup(text).plain)


def ensure_services(settings: Settings, console: Printer, state: Path
                    ) -> list[Callable[[], None]]:
    """PostgreSQL and Redis answer after this (started if they did not)."""
    redis_url = urlparse(settings.redis_url)
    return devstack.ensure_postgres_and_redis(
        settings.postgres_host, settings.postgres_port, redis_url.hostname or "127.0.0.1",
        redis_url.port or 6379, state, console.print,
    )


NOIDA = "noida-db"
"""The dev Kafka and Elasticsearch server ``roost up`` starts (and restarts) itself."""


def _noida_starter(settings: Settings, console: Printer
                   ) -> Callable[[], subprocess.Popen[bytes]] | None:
    """How to start the dev broker/search server, or ``None`` when it is not ours to
    run: external URLs are configured (unless ``ROOST_DEVSERVER=start`` asks for one
    on their ports), or another stack's server already answers."""
    if (settings.devserver != "start" and "ROOST_KAFKA_BOOTSTRAP" in os.environ
            and "ROOST_ELASTICSEARCH_URL" in os.environ):
        return None
    kafka_port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    es_port = urlparse(settings.elasticsearch_url).port or 9200
    if devstack.port_open("127.0.0.1", kafka_port) and devstack.port_open("127.0.0.1", es_port):
        console.print("Kafka and Elasticsearch dev servers already answer; using them")
        return None
    console.print(f"starting noida-db (Kafka :{kafka_port}, Elasticsearch :{es_port})")
    data_dir = Path(settings.devserver_data_dir)
    return lambda: devstack.start_noida(data_dir, kafka_port, es_port,
                                        data_dir.parent / "noida.log")


class RestartPolicy:
    """Restart with backoff, unless a part crash-loops: ``max_exits`` exits within
    ``window_s`` seconds. The backoff doubles per exit in the window (``backoff_s``,
    twice that, ... at most 30 s)."""

    def __init__(self, max_exits: int, window_s: float, backoff_s: float = 0.5) -> None:
        self.max_exits = max_exits
        self.backoff_s = backoff_s
        self.window_s = window_s
        self._exits: deque[float] = deque()

    def exited(self, now: float) -> float | None:
        """Record an exit at ``now`` (monotonic s): the delay before restarting, or
        ``None`` when the part crash-loops and everything should stop."""
        self._exits.append(now)
        while self._exits and now - self._exits[0] > self.window_s:
            self._exits.popleft()
        if len(self._exits) >= self.max_exits:
            return None
        return float(min(30.0, self.backoff_s * 2 ** (len(self._exits) - 1)))

    @property
    def recent_exits(self) -> int:
        return len(self._exits)


def describe_exit(returncode: int) -> str:
    """``exit code 1``, or ``killed by SIGKILL`` for a negative Popen return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _start(part: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "infra.cli", part])


def _part_starter(part: str) -> Callable[[], subprocess.Popen[bytes]]:
    return lambda: _start(part)


class CrashLoop(Exception):
    """A part exited too often; the message names it and its last exit."""


def _supervise(settings: Settings, parts: dict[str, subprocess.Popen[bytes]],
               starters: dict[str, Callable[[], subprocess.Popen[bytes]]],
               console: Printer, base: str) -> None:
    """Restart parts (the dev server too, when ``roost up`` started it) that exit,
    announce the stack once healthy; returns never, raises ``CrashLoop`` or
    ``DevStackError`` (not healthy in time)."""
    policies = {part: RestartPolicy(settings.up_max_restarts, settings.up_restart_window_s,
                                    settings.up_restart_backoff_s) for part in parts}
    due: dict[str, float] = {}  # part -> monotonic time of its restart
    announced = False
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        now = time.monotonic()
        for part, process in parts.items():
            if part in due or (code := process.poll()) is None:
                continue
            why = describe_exit(code)
            delay = policies[part].exited(now)
            if delay is None:
                raise CrashLoop(
                    f"{part} crash-looped: {policies[part].recent_exits} exits within "
                    f"{settings.up_restart_window_s:.0f}s (last: {why})")
            console.print(f"[yellow]{part} exited ({why}); restarting it in {delay:.1f}s"
                          "[/yellow]")
            due[part] = now + delay
        for part, at in list(due.items()):
            if at <= now:
                del due[part]
                parts[part] = starters[part]()
                console.print(f"restarted {part} (pid {parts[part].pid})")
        if not announced:
            if _healthy(f"{base}/health"):
                announced = True
                processes = "1 process" if settings.api_workers == 1 else \
                    f"{settings.api_workers} processes: ROOST_API_WORKERS"
                console.print(f"[bold green]Roost is up[/bold green]\n  API     {base}/api"
                              f"  ({processes})\n"
                              f"  docs    {base}/docs\n  health  {base}/health\n"
                              f"  metrics {base}/metrics\nPress Ctrl-C to stop.")
            elif now > deadline:
                raise devstack.DevStackError(
                    f"Roost did not become healthy within {STARTUP_TIMEOUT_S:.0f}s: "
                    f"{_unhealthy(f'{base}/health')} (see the logs above)")
        time.sleep(0.2)


def _unhealthy(url: str) -> str:
    """What ``/health`` says is wrong: each failing check and its message."""
    try:
        response = httpx.get(url, timeout=2)
        checks = response.json().get("checks", {})
    except (httpx.HTTPError, ValueError, AttributeError):
        return f"{url} does not answer"
    failing = {name: state for name, state in checks.items() if state != "ok"}
    return "; ".join(f"{name}: {state}" for name, state in failing.items()) or \
        f"{url} answered {response.status_code}"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_stack(settings: Settings, terminal: Console) -> int:
    """Serve until told to stop (0), or until a part crash-loops or the stack never
    becomes healthy (1, saying which part and why). A part that exits otherwise is
    restarted with backoff. What it says goes to ``terminal`` with ``ROOST_LOG_JSON``
    off, and as JSON log lines (``JsonLines``) otherwise."""
    console: Printer = terminal
    if settings.log_json:
        configure_logging(settings.log_level, True, "up")
        console = JsonLines()
    devstack.interrupt_on_stop_signals()
    state = Path(".roost")
    state.mkdir(exist_ok=True)
    parts: dict[str, subprocess.Popen[bytes]] = {}
    starters = {part: _part_starter(part) for part in PARTS}
    stoppers: list[Callable[[], None]] = []
    try:
        stoppers += ensure_services(settings, console, state)
        noida = _noida_starter(settings, console)
        if noida is not None:
            starters = {NOIDA: noida, **starters}
            parts[NOIDA] = noida()
        migrate(settings)
        for part in PARTS:
            parts[part] = _start(part)
        _supervise(settings, parts, starters, console,
                   f"http://{settings.api_host}:{settings.api_port}")
        return 1  # not reached: _supervise returns only by raising
    except KeyboardInterrupt:
        console.print("stopping Roost")
        return 0
    except CrashLoop as error:
        console.print(f"[red]{error}; stopping everything[/red]")
        return 1
    except devstack.DevStackError as error:
        console.print(f"[red]{error}[/red]")
        return 1
    finally:
        running = [parts[part] for part in reversed(PARTS) if part in parts]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        # The parts first, then the server they talk to while shutting down.
        for process in [*running, *([parts[NOIDA]] if NOIDA in parts else [])]:
            devstack.stop(process)
        for stop_server in reversed(stoppers):
            stop_server()
