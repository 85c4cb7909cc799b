"""Several API processes behind one port (``ROOST_API_WORKERS`` > 1).

``roost api`` then runs uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``,
uvicorn 0.54): the parent binds the port once and spawns ``api_workers`` processes
that accept connections on that one socket (the kernel gives each new connection to
one of them; a keep-alive connection stays with its process). The parent

* replaces a process that exits, or that does not answer its health ping within
  ``timeout_worker_healthcheck`` (5 s), killing it first;
* stops every process on SIGINT or SIGTERM (each finishes the requests it has, as a
  single ``roost api`` does) and exits 0;
* stops every process and exits 3 (uvicorn's ``STARTUP_FAILURE``) when one fails to
  start (a bad setting, PostgreSQL down): restarting it alone would fail alike, and
  the supervisor above (``roost up``, systemd) restarts the whole API with backoff;
* replaces each process in turn on SIGHUP (a rolling restart); SIGTTIN and SIGTTOU
  (adding and removing processes) are refused: set ``ROOST_API_WORKERS`` instead.

Each process builds its own app from the environment (``process_app``: the parent
exports its settings), so everything in a process (pools, caches, the live hub, the
media pool) is that process's; docs/architecture.md ("Several API processes") says
why each is still correct across processes. What they share is per start, in a fresh
directory under the temporary directory (``$TMPDIR``), removed at exit (one left by a
parent killed outright is removed at the next start):

* ``metrics/``: ``PROMETHEUS_MULTIPROC_DIR``, so that ``/metrics``, whichever process
  answers, gives the sum over all of them (``infra.metrics.exposition``);
* ``slots/``: a lock file per Snowflake node slot. A process holds one (``flock``,
  released by the kernel when it dies, however it dies) and generates ids as node
  ``ROOST_NODE_ID + slot``: two processes never share a node id, so two posts
  created in one millisecond by two processes never get the same id.

A process whose parent dies (SIGKILL, OOM) stops itself (SIGTERM to itself, so it
finishes its requests): nothing is left serving on the port that a restarted
``roost api`` needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import IO, Final

import structlog
import uvicorn
from fastapi import FastAPI
from prometheus_client import multiprocess
from uvicorn.supervisors import Multiprocess

from infra.http.bounded_protocol import BoundedHeadProtocol
from infra.logging import configure_logging
from infra.settings import Settings

PROCESS_DIR_ENV: Final = "ROOST_API_PROCESS_DIR"
"""Where the parent tells its processes the per-start directory is."""
METRICS_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
DIR_PREFIX: Final = "roost-api-"
STARTUP_FAILURE: Final = 3
"""The exit code when a process failed to start (``uvicorn.config.STARTUP_FAILURE``)."""
MAX_NODE_ID: Final = 1023
HEALTHCHECK_TIMEOUT_S: Final = 30
"""How long the supervisor waits for a process to answer its ping before killing it as
hung (uvicorn's ``timeout_worker_healthcheck``, 5 s by default). A spawned process
answers only once it has imported the app (0.7-0.8 s of CPU alone): under ``make up``,
which starts every part at once on two cores, one took longer than 5 s and was killed
mid-import and replaced ("Child process died"). The answering thread needs only the
GIL, so a process that misses 30 s is hung indeed. The price: a hung process is found
up to 30 s later, and the supervisor, which pings the processes one by one, handles
signals (a rolling restart, a stop) only after that ping has timed out."""

log = structlog.get_logger(__name__)


def node_slots(settings: Settings) -> int:
    """How many Snowflake node ids ``roost api`` uses: one per process and one spare,
    for the replacement that a rolling restart (SIGHUP) starts before the old one ends."""
    return settings.api_workers + 1


def check_node_range(settings: Settings) -> None:
    """Refuse (``ValueError``) settings whose node ids would pass 1023."""
    last = settings.node_id + node_slots(settings) - 1
    if last > MAX_NODE_ID:
        raise ValueError(
            f"ROOST_NODE_ID={settings.node_id} with ROOST_API_WORKERS={settings.api_workers} "
            f"needs Snowflake node ids up to {last}; the last is {MAX_NODE_ID}")


class ApiSupervisor(Multiprocess):
    """uvicorn's supervisor, remembering whether it was told to stop (exit 0) or
    stopped because a process failed to start (exit 3), forgetting the live gauges
    of processes that are gone, and refusing SIGTTIN/SIGTTOU (more processes than
    node slots)."""

    def __init__(self, config: uvicorn.Config, metrics_dir: Path) -> None:
        super().__init__(config, sockets=[config.bind_socket()])
        self.metrics_dir = metrics_dir
        self.signalled = False
        self._known: set[int] = set()

    def handle_int(self) -> None:
        self.signalled = True
        super().handle_int()

    def handle_term(self) -> None:
        self.signalled = True
        super().handle_term()

    def handle_ttin(self) -> None:
        log.warning("api.signal_ignored", signal="SIGTTIN", why="set ROOST_API_WORKERS")

    def handle_ttou(self) -> None:
        log.warning("api.signal_ignored", signal="SIGTTOU", why="set ROOST_API_WORKERS")

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        running = {process.pid for process in self.processes if process.pid is not None}
        for pid in self._known - running:  # died and replaced, or rolled by SIGHUP
            # (prometheus_client leaves it unannotated)
            multiprocess.mark_process_dead(pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
        self._known = running

    @property
    def exit_code(self) -> int:
        return 0 if self.signalled else STARTUP_FAILURE


def serve(settings: Settings) -> int:
    """Serve the API in ``settings.api_workers`` processes until told to stop; the
    exit code (0 when stopped by SIGINT/SIGTERM, 3 when a process failed to start).

    Raises:
        ValueError: the node ids would pass 1023 (``check_node_range``).
        SystemExit: the port cannot be bound (uvicorn exits 3).
    """
    check_node_range(settings)
    structlog.contextvars.bind_contextvars(pid=os.getpid())  # the supervisor's lines
    directory = fresh_directory(Path(tempfile.gettempdir()))
    metrics_dir = directory / "metrics"
    os.environ.update(settings.as_env())  # what each process reads its settings from
    os.environ[PROCESS_DIR_ENV] = str(directory)
    os.environ[METRICS_DIR_ENV] = str(metrics_dir)
    config = uvicorn.Config(
        f"{__name__}:process_app", factory=True, host=settings.api_host,
        port=settings.api_port, workers=settings.api_workers, log_config=None,
        access_log=False, lifespan="on", http=BoundedHeadProtocol,
        timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT_S,
        proxy_headers=False)  # X-Forwarded-For is Roost's (ROOST_TRUST_FORWARDED_FOR)
    try:
        supervisor = ApiSupervisor(config, metrics_dir)
        supervisor.run()
        return supervisor.exit_code
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def fresh_directory(parent: Path) -> Path:
    """A new ``roost-api-<pid>-*`` directory under ``parent`` with ``metrics/`` and
    ``slots/``; first removes those of ``roost api`` parents that are gone."""
    for stale in parent.glob(f"{DIR_PREFIX}*-*"):
        pid = stale.name.removeprefix(DIR_PREFIX).split("-", 1)[0]
        with contextlib.suppress(OSError):
            if pid.isdigit() and stale.stat().st_uid == os.getuid() and not _alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
    directory = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=parent))
    (directory / "metrics").mkdir()
    (directory / "slots").mkdir()
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_slot(directory: Path, slots: int) -> tuple[int, IO[str]]:
    """The lowest free slot in ``0 .. slots - 1`` and the open file whose ``flock``
    holds it (keep it open for the life of the process: the kernel releases the lock
    when the process ends, also on SIGKILL).

    Raises:
        RuntimeError: every slot is held.
    """
    for slot in range(slots):
        handle = open(directory / f"{slot}.lock", "a")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return slot, handle
    raise RuntimeError(f"all {slots} API process slots in {directory} are held")


def exit_with_parent() -> None:
    """In a process spawned by the supervisor: SIGTERM this process when the parent
    dies, so that it finishes its requests and frees the port. Does nothing in a
    process without a ``multiprocessing`` parent."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's end of the sentinel pipe closes
        log.warning("api.supervisor_gone", supervisor=parent.pid, action="stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="roost-parent-watch", daemon=True).start()


def process_app() -> FastAPI:
    """One API process's app (uvicorn calls this in each process, ``factory=True``):
    settings from the environment, node id ``ROOST_NODE_ID + slot``.

    Raises:
        RuntimeError: no node slot is free, or not started by ``serve``.
    """
    from infra.http.app import create_app

    exit_with_parent()
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json, "api")
    structlog.contextvars.bind_contextvars(pid=os.getpid())
    directory = os.environ.get(PROCESS_DIR_ENV)
    if not directory:
        raise RuntimeError(f"{PROCESS_DIR_ENV} is not set: start the API with `roost api`")
    slot, held = claim_slot(Path(directory) / "slots", node_slots(settings))
    app = create_app(settings.model_copy(update={"node_id": settings.node_id + slot}),
                     freeze_heap=True)
    app.state.node_slot = held  # the lock lives as long as the app
    return app
