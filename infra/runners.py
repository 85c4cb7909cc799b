"""Programmatic entry points for each process; the CLI is a thin layer over them."""

from __future__ import annotations

import asyncio
import signal
import sys

import faust
import prometheus_client
import structlog
import uvicorn
from aiokafka.errors import KafkaError

from infra.bootstrap import build_relay, build_worker
from infra.database import migrate
from infra.heap import freeze_startup_heap
from infra.kafka import ensure_topic
from infra.logging import configure_logging, stdlib_config
from infra.settings import Settings

log = structlog.get_logger(__name__)
TOPIC_CREATION_WITHIN_S = 10.0


def run_api(settings: Settings) -> None:
    """Serve the API: in this process when ``settings.api_workers`` is 1, else in that
    many processes on one port (``infra.api_processes``; exits with its code)."""
    from infra.http.app import create_app

    configure_logging(settings.log_level, settings.log_json, "api")
    migrate(settings)  # once, here: the API's processes do not migrate
    if settings.api_workers > 1:
        from infra import api_processes

        try:
            code = api_processes.serve(settings)
        except ValueError as error:  # settings that cannot work: say why, exit 1
            log.error("api.refused_settings", error=str(error))
            sys.exit(1)
        sys.exit(code)
    from infra.http.bounded_protocol import BoundedHeadProtocol

    uvicorn.run(create_app(settings, freeze_heap=True), host=settings.api_host,
                port=settings.api_port, log_config=None, access_log=False, lifespan="on",
                http=BoundedHeadProtocol,
                # uvicorn's own proxy headers are on by default and trust X-Forwarded-For
                # from 127.0.0.1: any local client could name its address. Roost reads it
                # itself, only with ROOST_TRUST_FORWARDED_FOR (infra.http.client_identity).
                proxy_headers=False)


def _serve_metrics(settings: Settings, port: int) -> None:
    if port:
        prometheus_client.start_http_server(port, addr=settings.api_host)


def run_relay(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_json, "relay")
    migrate(settings)
    _serve_metrics(settings, settings.relay_metrics_port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        relay = build_relay(settings)
        freeze_startup_heap()
        await relay.run(stop)

    asyncio.run(main())


def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_json, "worker")
    migrate(settings)
    prepare_topic(settings)
    _serve_metrics(settings, settings.worker_metrics_port)
    worker = faust_worker(build_worker(settings), settings)
    freeze_startup_heap()  # the modules and the app: no full collection walks them
    worker.execute_from_commandline()


def faust_worker(app: faust.App, settings: Settings) -> faust.Worker:
    """The Faust worker that runs ``app``, logging through Roost's logging config.

    Without its terminal spinner: Faust keeps one at log levels from ``WARNING`` up and
    writes its cursor codes (``ESC[?25l``...) into the output, before a log line, which
    is then no JSON."""
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                          logging_config=stdlib_config(settings.log_level, settings.log_json))
    worker.spinner = None
    return worker


def prepare_topic(settings: Settings) -> None:
    """Create the event topic with ``ROOST_KAFKA_PARTITIONS`` partitions before the
    worker's consumer asks for it: a broker that auto-creates topics (Kafka's default,
    noida-db) would otherwise make it with its own count when a worker starts before
    any relay, and the relay would then refuse it. Best effort: a broker that does not
    answer within ``TOPIC_CREATION_WITHIN_S`` is logged (``worker.topic_unprepared``)
    and the worker starts anyway (its consumer waits for the broker; the relay creates
    the topic or refuses a wrong one)."""
    try:
        asyncio.run(asyncio.wait_for(ensure_topic(settings, exact=False),
                                     TOPIC_CREATION_WITHIN_S))
    except (KafkaError, OSError, TimeoutError) as error:
        log.warning("worker.topic_unprepared", topic=settings.kafka_topic, error=repr(error))
