"""The relay against real PostgreSQL and the noida Kafka-compatible broker."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from psycopg import AsyncConnection

from commands.bus import CommandBus
from commands.messages import CreatePost, DeletePost, SetFollow
from infra import devstack
from infra.bootstrap import build_command_bus
from infra.eventlog import STORE_HEADER, read_envelopes
from infra.health import heartbeat_verdict
from infra.kafka import TopicPartitionsMismatch, ensure_topic, make_producer, partition_for
from infra.redis_clients import build_sync_redis
from infra.redis_keys import RedisKeys
from infra.resilience import Guard
from infra.runners import TOPIC_CREATION_WITHIN_S, prepare_topic
from infra.settings import Settings
from ports.events import EventEnvelope
from streams import relay as relay_module
from streams.relay import RELAY_LOCK_KEY, ProducerFactory, Relay
from tests.integration.conftest import (
    SettingsFactory,
    close_bus,
    signup,
    store_max_position,
    wait_until,
)

RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def relay_settings(settings_factory: SettingsFactory, noida: dict[str, str]) -> Settings:
    return settings_factory(
        kafka_bootstrap=noida["kafka_bootstrap"],
        kafka_topic=f"roost.test.{uuid.uuid4().hex[:10]}",
        relay_poll_s=0.05,
    )


@pytest.fixture
def relay_bus(relay_settings: Settings) -> Iterator[CommandBus]:
    bus = build_command_bus(relay_settings)
    try:
        yield bus
    finally:
        close_bus(bus)


@pytest.fixture
async def db(relay_settings: Settings) -> AsyncIterator[AsyncConnection[Any]]:
    conn = await AsyncConnection.connect(relay_settings.postgres_conninfo, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


async def relay_position(db: AsyncConnection[Any]) -> int:
    cur = await db.execute("SELECT position FROM relay_positions WHERE name = 'kafka'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def stored(db: AsyncConnection[Any]) -> list[EventEnvelope]:
    return await read_envelopes(db, 0, limit=10_000)


async def read_topic(settings: Settings, timeout: float = 10.0) -> list[ConsumerRecord[Any, Any]]:
    """Every record of the topic, from the beginning to the current end offsets."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
        auto_offset_reset="earliest", group_id=None,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(settings.kafka_topic) or {0}
        tps = [TopicPartition(settings.kafka_topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[Any, Any]] = []

        async def caught_up() -> bool:
            batches = await consumer.getmany(*tps, timeout_ms=100)
            for batch in batches.values():
                records.extend(batch)
            positions = [await consumer.position(tp) for tp in tps]
            return all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True))

        await wait_until(caught_up, timeout, interval=0, message="the end of the topic")
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


def make_history(bus: CommandBus) -> None:
    alice, bob = signup(bus, "alice"), signup(bus, "bob")
    bus.handle(SetFollow(actor=bob, username="alice", active=True))
    first = int(bus.handle(CreatePost(actor=alice, text="hello #roost")).data["id"])
    bus.handle(CreatePost(actor=bob, text="hi @alice"))
    bus.handle(DeletePost(actor=alice, post_id=first))


async def run_relay(settings: Settings, producer_factory: ProducerFactory = make_producer,
                    guard: Guard | None = None) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    relay = Relay(settings, producer_factory=producer_factory, guard=guard)
    return asyncio.create_task(relay.run(stop)), stop


async def finish(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def lock_holder(db: AsyncConnection[Any]) -> int | None:
    """The backend holding this database's relay lock (advisory locks are per database,
    but pg_locks lists every database's: other relays on this server are not ours)."""
    cur = await db.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (RELAY_LOCK_KEY,))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def standby_pids(db: AsyncConnection[Any]) -> set[int]:
    """Backends of this database whose last statement was a failed try for the lock."""
    holder = await lock_holder(db)
    cur = await db.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'SELECT pg_try_advisory_lock%%'")
    return {int(r[0]) for r in await cur.fetchall()} - {holder}


def assert_published_once_in_order(records: list[ConsumerRecord[Any, Any]],
                                   events: list[EventEnvelope]) -> None:
    published = [EventEnvelope.from_json(r.value) for r in records]
    assert [e.position for e in published] == [e.position for e in events]
    assert published == events  # the very envelopes of the store, field for field
    stores = {dict(record.headers).get(STORE_HEADER) for record in records}
    assert len(stores) == 1 and None not in stores  # every message names its store
    for record, event in zip(records, published, strict=True):
        assert record.key == event.aggregate_id.encode()


# --- tests -----------------------------------------------------------------------------------


async def test_relay_publishes_every_event_once_in_order(
    relay_settings: Settings, relay_bus: CommandBus, db: AsyncConnection[Any]
) -> None:
    make_history(relay_bus)  # a backlog before the relay starts
    backlog = store_max_position(relay_settings)
    task, stop = await run_relay(relay_settings)
    try:
        await wait_until(lambda: relay_position_is(db, backlog), message="backlog relayed")
        events = await stored(db)
        records = await read_topic(relay_settings)
        assert_published_once_in_order(records, events)
        for event in events:
            assert RFC3339_MS.match(event.occurred_at)
            assert event.schema_version == (3 if event.type == "PostCreated" else 1)
            assert event.aggregate_version >= 1
            assert "password_hash" not in event.payload
        assert {e.type for e in events} >= {
            "AccountRegistered", "EmailClaimed", "SessionStarted", "Followed", "PostCreated",
            "PostDeleted"}
        assert len({e.event_id for e in events}) == len(events)

        # live events while it runs
        carol = signup(relay_bus, "carol")
        relay_bus.handle(CreatePost(actor=carol, text="live"))
        latest = store_max_position(relay_settings)
        assert latest > backlog
        await wait_until(lambda: relay_position_is(db, latest), message="live events relayed")
        assert_published_once_in_order(await read_topic(relay_settings), await stored(db))
    finally:
        await finish(task, stop)
    assert not task.cancelled() and task.exception() is None


async def relay_position_is(db: AsyncConnection[Any], position: int) -> bool:
    return await relay_position(db) == position


@dataclasses.dataclass
class Faults:
    """Whether the (simulated) broker fails its acknowledgements; switchable at any time."""

    fail: bool = False


class GatedProducer:
    """The real producer, except that the relay sees acknowledgements only when let."""

    def __init__(self, inner: AIOKafkaProducer, gate: asyncio.Event, faults: Faults) -> None:
        self.inner = inner
        self.gate = gate
        self.faults = faults
        self.sent = 0
        self.acked: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def partitions_for(self, topic: str) -> set[int]:
        partitions: set[int] = await self.inner.partitions_for(topic)
        return partitions

    async def send(self, topic: str, value: bytes, key: bytes, partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[Any]:
        real_ack = await self.inner.send(topic, value=value, key=key, partition=partition,
                                         headers=headers)
        self.acked.append(real_ack)
        self.sent += 1
        return asyncio.ensure_future(self._ack_later(real_ack))

    async def _ack_later(self, real_ack: asyncio.Future[Any]) -> Any:
        metadata = await real_ack
        await self.gate.wait()
        if self.faults.fail:
            raise KafkaError("broker did not acknowledge")
        return metadata


def gated_producers(gate: asyncio.Event, faults: Faults | None = None
                    ) -> tuple[ProducerFactory, list[GatedProducer]]:
    """A producer factory for the relay, and the producers it made (in order)."""
    made: list[GatedProducer] = []
    shared = faults or Faults()

    def factory(settings: Settings) -> Any:
        producer = GatedProducer(make_producer(settings), gate, shared)
        made.append(producer)
        return producer

    return factory, made


async def test_relay_records_its_position_only_after_the_broker_acknowledged(
    relay_settings: Settings, relay_bus: CommandBus, db: AsyncConnection[Any],
) -> None:
    make_history(relay_bus)
    total = len(await stored(db))
    gate = asyncio.Event()
    factory, producers = gated_producers(gate)
    task, stop = await run_relay(relay_settings, factory)
    try:
        await wait_until(lambda: bool(producers) and producers[0].sent == total,
                         message="the batch to be sent")
        await wait_until(lambda: all(f.done() for f in producers[0].acked),
                         message="the broker to have the batch")
        assert len(await read_topic(relay_settings)) == total  # on the broker already...
        assert await relay_position(db) == 0  # ...but not acknowledged to the relay: not saved
        gate.set()
        await wait_until(lambda: relay_position_is(db, store_max_position(relay_settings)),
                         message="position saved after the acks")
    finally:
        await finish(task, stop)


async def test_failed_acknowledgements_are_retried_until_the_broker_recovers(
    relay_settings: Settings, relay_bus: CommandBus, db: AsyncConnection[Any],
) -> None:
    make_history(relay_bus)
    events = await stored(db)
    gate = asyncio.Event()
    gate.set()
    faults = Faults(fail=True)
    factory, producers = gated_producers(gate, faults)
    guard = Guard("relay", max_s=10.0)  # the relay's own backoff; counts failed attempts
    task, stop = await run_relay(relay_settings, factory, guard)
    try:
        # the outage is waited out, not fatal: the relay starts over, with a new producer
        await wait_until(lambda: guard.failures >= 2 and len(producers) >= 3,
                         message="the relay to retry twice")
        assert not task.done()
        assert await relay_position(db) == 0  # nothing acknowledged: nothing recorded
        faults.fail = False  # the broker is back
        await wait_until(lambda: relay_position_is(db, events[-1].position), timeout=15,
                         message="the retry to be relayed")
        assert not task.done()  # still relaying, until asked to stop

        carol = signup(relay_bus, "carol")  # and it goes on with new events
        relay_bus.handle(CreatePost(actor=carol, text="after the outage"))
        await wait_until(lambda: relay_position_is(db, store_max_position(relay_settings)),
                         message="new events relayed")
        assert guard.failures == 0  # relaying again: the next outage backs off from 0.5 s
    finally:
        await finish(task, stop)
    assert task.exception() is None
    events = await stored(db)
    published = [EventEnvelope.from_json(r.value) for r in await read_topic(relay_settings)]
    # at least once: failed attempts may have reached the broker, but nothing is lost,
    # and the last complete pass is the store in order
    assert {e.position for e in published} == {e.position for e in events}
    assert published[-len(events):] == events


async def test_a_relay_waits_out_a_database_it_cannot_reach_and_stops_when_asked(
    relay_settings: Settings,
) -> None:
    unreachable = relay_settings.model_copy(update={"postgres_port": devstack.free_port()})
    guard = Guard("relay", max_s=10.0)  # the relay's own backoff; counts failed attempts
    task, stop = await run_relay(unreachable, guard=guard)
    try:
        await wait_until(lambda: guard.failures >= 2, message="a second connection attempt")
        assert not task.done()  # psycopg.OperationalError is retried, not raised
    finally:
        started = time.monotonic()
        await finish(task, stop)
    assert time.monotonic() - started < 2.0  # the backoff wait ends with the stop event
    assert task.exception() is None


async def test_a_second_relay_stays_standby_until_the_first_stops(
    relay_settings: Settings, relay_bus: CommandBus, db: AsyncConnection[Any]
) -> None:
    make_history(relay_bus)
    first, first_stop = await run_relay(relay_settings)
    second: asyncio.Task[None] | None = None
    second_stop = asyncio.Event()
    try:
        await wait_until(lambda: relay_position_is(db, store_max_position(relay_settings)),
                         message="the first relay to be active")
        first_pid = await lock_holder(db)
        assert first_pid is not None

        second = asyncio.create_task(Relay(relay_settings).run(second_stop))
        await wait_until(lambda: _nonempty(standby_pids(db)), message="a relay in standby")
        standby = await standby_pids(db)
        assert len(standby) == 1 and first_pid not in standby

        # while both run, only the first publishes, and every event once
        alice_post = signup(relay_bus, "carol")
        relay_bus.handle(CreatePost(actor=alice_post, text="while two relays run"))
        await wait_until(lambda: relay_position_is(db, store_max_position(relay_settings)),
                         message="new events relayed")
        assert await lock_holder(db) == first_pid
        assert not second.done()
        assert_published_once_in_order(await read_topic(relay_settings), await stored(db))

        # the first stops: the second takes over where it left off
        await finish(first, first_stop)
        await wait_until(lambda: _holder_in(db, standby), message="the second relay to take over")
        dave = signup(relay_bus, "dave")
        relay_bus.handle(CreatePost(actor=dave, text="after the hand-over"))
        await wait_until(lambda: relay_position_is(db, store_max_position(relay_settings)),
                         message="events relayed by the second relay")
        assert_published_once_in_order(await read_topic(relay_settings), await stored(db))
    finally:
        if not first.done():
            await finish(first, first_stop)
        if second is not None:
            await finish(second, second_stop)


async def test_a_standby_relay_stops_promptly_when_asked(
    relay_settings: Settings, db: AsyncConnection[Any]
) -> None:
    # hold the relay lock as another relay would
    holder = await AsyncConnection.connect(relay_settings.postgres_conninfo, autocommit=True)
    try:
        await holder.execute("SELECT pg_advisory_lock(%s)", (RELAY_LOCK_KEY,))
        task, stop = await run_relay(relay_settings)
        await wait_until(lambda: _nonempty(standby_pids(db)), message="standby")
        assert not task.done()
        await finish(task, stop)  # well within its timeout
        assert await relay_position(db) == 0
    finally:
        await holder.close()


async def _nonempty(pids: Any) -> bool:
    return bool(await pids)


async def _holder_in(db: AsyncConnection[Any], pids: set[int]) -> bool:
    return await lock_holder(db) in pids


async def test_each_aggregates_events_go_in_order_to_the_partition_its_id_hashes_to(
    relay_settings: Settings, relay_bus: CommandBus, db: AsyncConnection[Any],
) -> None:
    settings = relay_settings.model_copy(update={"kafka_partitions": 4})
    make_history(relay_bus)
    for name in ("carol", "dave", "erin", "frank"):
        relay_bus.handle(CreatePost(actor=signup(relay_bus, name), text=f"from {name}"))
    task, stop = await run_relay(settings)
    try:
        await wait_until(lambda: relay_position_is(db, store_max_position(settings)),
                         message="everything relayed")
    finally:
        await finish(task, stop)
    events = await stored(db)
    records = await read_topic(settings)
    # this history's aggregate ids (uuid5 of fixed names) cover all four partitions
    assert {r.partition for r in records} == {0, 1, 2, 3}
    for partition in range(4):
        mine = [r for r in records if r.partition == partition]
        expected = [e for e in events
                    if partition_for(e.aggregate_id.encode(), 4) == partition]
        # exactly the events whose aggregate hashes here, once each, in position order
        assert_published_once_in_order(mine, expected)
    assert sorted(r.offset for r in records if r.partition == 0) == list(
        range(sum(1 for r in records if r.partition == 0)))


async def test_a_relay_refuses_a_topic_with_another_partition_count(
    relay_settings: Settings, relay_bus: CommandBus, db: AsyncConnection[Any],
) -> None:
    make_history(relay_bus)
    admin = AIOKafkaAdminClient(bootstrap_servers=relay_settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(relay_settings.kafka_topic, 2, 1)])
    finally:
        await admin.close()
    settings = relay_settings.model_copy(update={"kafka_partitions": 4})
    guard = Guard("relay", max_s=10.0)
    task, stop = await run_relay(settings, guard=guard)
    try:
        await wait_until(lambda: guard.failures >= 2, message="the relay to retry")
        assert not task.done()  # an operator's mistake is waited out, not fatal
        assert await relay_position(db) == 0
        assert await read_topic(settings) == []  # nothing published on the wrong layout
        # /health says why, not "not running?"
        client = build_sync_redis(settings)
        try:
            beat = client.get(RedisKeys(settings.redis_prefix).relay_heartbeat())
        finally:
            client.close()
        assert heartbeat_verdict("relay", beat) == (
            "error: relay is failing: TopicPartitionsMismatch(\"topic "
            f"'{settings.kafka_topic}' has 2 partitions, ROOST_KAFKA_PARTITIONS says 4\")")
    finally:
        await finish(task, stop)
    assert task.exception() is None
    with pytest.raises(TopicPartitionsMismatch, match=r"has 2 partitions.* says 4"):
        await ensure_topic(settings)
    await ensure_topic(settings, exact=False)  # a replay's topic takes what is there


async def topic_partitions(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = [t for t in await admin.describe_topics()
                       if t["topic"] == settings.kafka_topic]
        return len(described["partitions"])
    finally:
        await admin.close()


def test_a_worker_creates_the_topic_with_the_configured_count_before_it_subscribes(
    relay_settings: Settings,
) -> None:
    settings = relay_settings.model_copy(update={"kafka_partitions": 3})
    prepare_topic(settings)  # what run_worker does before the Faust app starts
    assert asyncio.run(topic_partitions(settings)) == 3
    prepare_topic(settings)  # already there: nothing to do, nothing raised
    asyncio.run(ensure_topic(settings))  # and the relay accepts it


def test_a_worker_starts_even_when_the_broker_does_not_answer(
    relay_settings: Settings, capsys: pytest.CaptureFixture[str],
) -> None:
    unreachable = relay_settings.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{devstack.free_port()}"})
    started = time.monotonic()
    prepare_topic(unreachable)  # logged, not raised
    assert time.monotonic() - started < TOPIC_CREATION_WITHIN_S + 2
    assert "worker.topic_unprepared" in capsys.readouterr().out


async def test_a_failure_stays_on_health_until_the_next_attempt_had_its_chance(
    relay_settings: Settings,
) -> None:
    relay = Relay(relay_settings)
    await relay.report_failure(KafkaError("broker gone"), retry_in_s=30.0)
    client = build_sync_redis(relay_settings)
    key = RedisKeys(relay_settings.redis_prefix).relay_heartbeat()
    try:
        assert heartbeat_verdict("relay", client.get(key)) == \
            "error: relay is failing: KafkaError('broker gone')"
        # a backoff longer than a heartbeat's life does not turn it into "not running?"
        assert client.pttl(key) > (relay_settings.heartbeat_ttl_s + 25) * 1000
        await relay.beat(7)  # the next attempt beats at once: the failure is gone
        assert heartbeat_verdict("relay", client.get(key)) == "ok"
    finally:
        client.close()
        if relay._redis is not None:
            await relay._redis.aclose()


async def test_a_broker_that_never_answers_fails_the_attempt_within_the_set_up_bound(
    relay_settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blackholed broker (it accepts connections and says nothing) would hold the
    relay's set-up for aiokafka's 40 s request timeout and /health would lose why."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never answers, never closes

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(relay_module, "SETUP_WITHIN_S", 0.5)
    settings = relay_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})
    guard = Guard("relay", max_s=10.0)
    task, stop = await run_relay(settings, guard=guard)
    client = build_sync_redis(settings)
    try:
        key = RedisKeys(settings.redis_prefix).relay_heartbeat()
        await wait_until(lambda: heartbeat_verdict("relay", client.get(key)).startswith(
            "error: relay is failing: TimeoutError"), timeout=10,
            message="the attempt to fail on its set-up bound, and say so")
        assert guard.failures >= 1 and not task.done()
    finally:
        client.close()
        await finish(task, stop)
        for writer in held:
            writer.close()
        server.close()
    assert task.exception() is None
