"""The relay: follows the event store's notification log and publishes to Kafka.

At-least-once: a batch is published, the broker's acknowledgements awaited,
and only then is the relay's position recorded. A crash in between means the
batch is published again, which the idempotent projectors ignore. Only one
relay is active at a time: each holds a PostgreSQL advisory lock for its
whole life, and a second one waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import redis.asyncio as aredis
import structlog
from aiokafka import AIOKafkaProducer
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

from infra.advisory_locks import AdvisoryLock
from infra.eventlog import EVENTS_TABLE, STORE_HEADER, read_envelopes, store_identity
from infra.health import FAILING_MAX_CHARS, write_heartbeat
from infra.kafka import check_partition_count, ensure_topic, make_producer, partition_for
from infra.metrics import RELAY_POSITION, RELAYED_EVENTS
from infra.redis_clients import async_redis
from infra.redis_keys import RedisKeys
from infra.resilience import Guard
from infra.settings import Settings
from ports.events import EventEnvelope

log = structlog.get_logger(__name__)

RELAY_LOCK_KEY = AdvisoryLock.RELAY.value
RELAY_NAME = "kafka"
SETUP_WITHIN_S = 15.0
"""How long an active relay's set-up (the topic's check, the producer's start and
metadata) may take before the attempt fails (``TimeoutError``) and is retried."""

Conn = AsyncConnection[TupleRow]
ProducerFactory = Callable[[Settings], AIOKafkaProducer]
"""Builds the (not yet started) Kafka producer for one active period of the relay."""


async def load_position(conn: Conn) -> int:
    cur = await conn.execute("SELECT position FROM relay_positions WHERE name = %s", (RELAY_NAME,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def save_position(conn: Conn, position: int) -> None:
    await conn.execute(
        "INSERT INTO relay_positions (name, position) VALUES (%s, %s) ON CONFLICT (name) "
        "DO UPDATE SET position = GREATEST(relay_positions.position, EXCLUDED.position), "
        "updated_at = now()",
        (RELAY_NAME, position),
    )


class Relay:
    """Publishes the event store to Kafka while ``run`` runs.

    ``producer_factory`` builds a producer each time the relay becomes active
    (``infra.kafka.make_producer`` unless given); ``guard`` is the backoff of the
    whole relay between failed attempts (``Guard("relay", max_s=10.0)`` unless
    given; its ``failures`` count the failed attempts).
    """

    def __init__(self, settings: Settings, producer_factory: ProducerFactory = make_producer,
                 guard: Guard | None = None) -> None:
        self.settings = settings
        self.producer_factory = producer_factory
        self.guard = guard or Guard("relay", max_s=10.0)
        self._redis: aredis.Redis | None = None
        self._heartbeat = Guard("relay-heartbeat")
        self._last_beat = 0.0
        self._store = ""  # this event store's identity, read when the relay becomes active
        self._active = False  # this attempt holds the relay lock

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop``; any failure (broker, database, a bug) is logged and
        waited out with a bounded exponential backoff, never fatal."""
        try:
            while not stop.is_set():
                self._active = False
                try:
                    await self._run_once(stop)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    delay = self.guard.failed(error)
                    if self._active:  # a standby's failure is not the active relay's state
                        await self.report_failure(error, retry_in_s=delay)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            if self._redis is not None:
                await self._redis.aclose()

    async def beat(self, position: int) -> None:
        """Tell /health the relay is alive and where it is (every heartbeat interval at
        most; a Redis failure is logged and does not disturb relaying)."""
        if time.monotonic() - self._last_beat < self.settings.heartbeat_interval_s:
            return
        self._last_beat = time.monotonic()
        await self._write_heartbeat(position=position)

    async def report_failure(self, error: Exception, retry_in_s: float = 0.0) -> None:
        """Tell /health why the relay is not relaying (``failing``: the error), so it
        says so instead of "not running?" (a broker gone, a topic refused), until the
        next attempt (in ``retry_in_s``) has had its set-up (``SETUP_WITHIN_S`` at most)
        and a heartbeat's life to beat or fail again; the next successful beat, written
        at once, replaces it."""
        self._last_beat = 0.0
        await self._write_heartbeat(
            ttl_s=self.settings.heartbeat_ttl_s + retry_in_s + SETUP_WITHIN_S,
            failing=repr(error)[:FAILING_MAX_CHARS])

    async def _write_heartbeat(self, ttl_s: float | None = None, **fields: object) -> None:
        if self._redis is None:
            self._redis = async_redis(self.settings.redis_url, self.settings.redis_cluster,
                                      socket_timeout=2, socket_connect_timeout=2)
        client, key = self._redis, RedisKeys(self.settings.redis_prefix).relay_heartbeat()
        await self._heartbeat.once(lambda: write_heartbeat(
            client, key, ttl_s or self.settings.heartbeat_ttl_s, **fields))

    async def _run_once(self, stop: asyncio.Event) -> None:
        conninfo = self.settings.postgres_conninfo
        async with await AsyncConnection.connect(conninfo, autocommit=True) as conn:
            if not await self._acquire_lock(conn, stop):
                return
            self._active = True
            self._store = await store_identity(conn)
            log.info("relay.active", store=self._store)
            producer = self.producer_factory(self.settings)
            try:  # stopped even when it never started (its client is closed then)
                async with asyncio.timeout(SETUP_WITHIN_S):  # a broker that never answers
                    await ensure_topic(self.settings)
                    await producer.start()
                    # its own metadata must list every partition partition_for names
                    check_partition_count(self.settings, len(
                        await producer.partitions_for(self.settings.kafka_topic)))
                async with await AsyncConnection.connect(conninfo, autocommit=True) as listener:
                    channel = sql.Identifier(EVENTS_TABLE)
                    await listener.execute(sql.SQL("LISTEN {}").format(channel))
                    await self._pump(conn, listener, producer, stop)
            finally:
                await producer.stop()

    async def _acquire_lock(self, conn: Conn, stop: asyncio.Event) -> bool:
        waiting_logged = False
        while not stop.is_set():
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,))
            row = await cur.fetchone()
            if row and row[0]:
                return True
            if not waiting_logged:
                log.info("relay.standby", reason="another relay holds the lock")
                waiting_logged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        return False

    async def _pump(
        self, conn: Conn, listener: Conn, producer: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        position = await load_position(conn)
        RELAY_POSITION.set(position)
        while not stop.is_set():
            await self.beat(position)
            batch = await read_envelopes(conn, position, limit=self.settings.relay_batch)
            if batch:
                await self._publish(producer, batch)
                position = batch[-1].position
                await save_position(conn, position)
                if self.guard.failures:  # relaying again: a later failure backs off anew
                    self.guard.succeeded()
                RELAY_POSITION.set(position)
                RELAYED_EVENTS.inc(len(batch))
                continue
            await self._wait_for_news(listener, stop)

    async def _publish(self, producer: AIOKafkaProducer, batch: list[EventEnvelope]) -> None:
        """Hand ``batch`` to the producer in position order, each event keyed by its
        aggregate id on the partition ``partition_for`` names (so an aggregate's events
        stay in order on one partition whatever the producer's metadata lists), then
        await every acknowledgement."""
        headers = [(STORE_HEADER, self._store.encode())]
        partitions = self.settings.kafka_partitions
        acks = []
        for e in batch:
            key = e.aggregate_id.encode()
            acks.append(await producer.send(
                self.settings.kafka_topic, value=e.to_json(), key=key,
                partition=partition_for(key, partitions), headers=headers,
            ))
        await asyncio.gather(*acks)

    async def _wait_for_news(self, listener: Conn, stop: asyncio.Event) -> None:
        """Sleep until the store announces new events (or the poll interval passes)."""
        if stop.is_set():
            return
        async for _ in listener.notifies(timeout=self.settings.relay_poll_s, stop_after=1):
            break
