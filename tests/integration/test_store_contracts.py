"""The store ports' contracts (``tests/contracts``) against the real adapters: the post
cache on Redis, the projectors' positions where the projectors record them (PostgreSQL
and Redis), the parking lot, the read models and their reader on PostgreSQL, the
notifications store on PostgreSQL and Redis (every read checked from its Redis hashes
and again from PostgreSQL alone), live events on Redis Streams, the trend counters
on Redis, the media store on the filesystem and on an S3-compatible server
(``tests/s3.py``). (The search index's contract runs on Elasticsearch in
``test_search_index.py``, beside what only the real server shows.)"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aredis
from eventsourcing.domain import Aggregate

from domain.moments import rfc3339
from infra import devstack
from infra.bootstrap import ProjectionServices, build_command_bus, close_command_bus
from infra.database import AsyncPool
from infra.event_reader import PostgresEventReader, open_event_reader
from infra.event_store import PostgresEventStore
from infra.live import LiveKeys, RedisLiveHub, RedisLivePublisher, reader_client
from infra.media_store import FilesystemMediaStore, S3MediaStore
from infra.notification_store import PostgresNotificationStore, schema_sql
from infra.page_facts import SET_FACTS_PART, RedisFactsCache
from infra.parking import PostgresParkingLot
from infra.positions import RecordedPositions
from infra.post_cache import RedisPostCache
from infra.read_model_reader import PostgresReadModelReader
from infra.read_model_store import EDGE_TABLES, PostgresReadModelStore
from infra.redis_clients import async_redis
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from infra.timeline_store import RedisTimelineStore
from infra.trend_counters import RedisTrendCounters
from ports.live import Channel
from ports.media_store import media_key
from ports.page_facts import FactKeys, Facts, RepostFact
from ports.projectors import READ_MODELS
from ports.read_models import Edge
from ports.timelines import TimelineStore
from tests.conftest import clear_redis_prefix, make_settings
from tests.contracts.event_reader import EventReaderContract, History, write_history
from tests.contracts.event_reader import Given as EventsGiven
from tests.contracts.live import BUFFER, QUEUE, Live, LiveContract
from tests.contracts.media_store import MediaStoreContract
from tests.contracts.notification_store import NotificationStoreContract
from tests.contracts.page_facts import FactsCacheContract, shown
from tests.contracts.parking import ParkingLotContract
from tests.contracts.positions import ProjectionPositionsContract, Record
from tests.contracts.post_cache import PostCacheContract
from tests.contracts.read_model_reader import Given, ReadModelReaderContract
from tests.contracts.read_models import ReadBack, ReadModelStoreContract
from tests.contracts.timelines import MAX_ENTRIES, TimelineStoreContract
from tests.contracts.trends import TrendCountersContract, miss_together
from tests.fakes.read_model_reader import ReadModelTables
from tests.fakes.read_models import Tables
from tests.integration.read_model_rows import insert_tables
from tests.s3 import s3_server, s3_store


class TestRedisPostCache(PostCacheContract):
    @pytest.fixture
    def cache(self, services: ProjectionServices, keys: RedisKeys) -> RedisPostCache:
        return RedisPostCache(services.redis, keys, ttl_s=60)

    @pytest.fixture
    async def unreachable(self, keys: RedisKeys) -> AsyncIterator[RedisPostCache]:
        client = aredis.Redis(port=devstack.free_port(), socket_connect_timeout=1)
        yield RedisPostCache(client, keys)
        await client.aclose()


class TestRedisFactsCache(FactsCacheContract):
    @pytest.fixture
    def cache(self, services: ProjectionServices, keys: RedisKeys) -> RedisFactsCache:
        return RedisFactsCache(services.redis, keys, ttl_s=60, reader_ttl_s=60)

    @pytest.fixture
    async def unreachable(self, keys: RedisKeys) -> AsyncIterator[RedisFactsCache]:
        client = aredis.Redis(port=devstack.free_port(), socket_connect_timeout=1)
        yield RedisFactsCache(client, keys)
        await client.aclose()

    async def test_set_facts_sets_each_time_to_live(self, cache: RedisFactsCache,
                                                    keys: RedisKeys) -> None:
        """Strings live ``ttl_s`` from the write; a reader's hash gets ``reader_ttl_s``
        when new, and at least that much more when it had less, never less."""
        redis = cache.redis
        await cache.fill(Facts(liked={(1, 7): True, (2, 7): True}))
        await redis.expire(keys.reader_facts(1), 5)
        await redis.expire(keys.reader_facts(2), 500)
        await cache.set_facts(Facts(accounts={1: shown(1)}, reposts={10: None},
                                    liked={(1, 8): True, (2, 8): False, (3, 8): True}))
        assert 55 <= await redis.ttl(keys.account_facts(1)) <= 60
        assert 55 <= await redis.ttl(keys.repost_facts(10)) <= 60
        assert 55 <= await redis.ttl(keys.reader_facts(1)) <= 60  # pushed to 60
        assert 495 <= await redis.ttl(keys.reader_facts(2)) <= 500  # not shortened
        assert 55 <= await redis.ttl(keys.reader_facts(3)) <= 60  # made by the write
        assert await cache.get(FactKeys(liked=frozenset({(1, 7), (1, 8), (2, 8), (3, 8)}))
                               ) == Facts(liked={(1, 7): True, (1, 8): True, (2, 8): False,
                                                 (3, 8): True})

    async def test_set_facts_of_many_parts_are_all_written(self, cache: RedisFactsCache
                                                           ) -> None:
        """More facts than one call takes (``SET_FACTS_PART``), many readers, one big."""
        many = SET_FACTS_PART * 2 + 7
        facts = Facts(accounts={i: shown(i, followers=i) if i % 3 else None
                                for i in range(1, many)},
                      reposts={i: RepostFact(i, "2026-11-25T01:02:03.004Z") for i in range(50)},
                      liked={(1, post): post % 2 == 0 for post in range(many)},
                      hidden={(reader, 5): reader % 4 for reader in range(2, 300)})
        await cache.set_facts(facts)
        assert await cache.get(FactKeys(
            accounts=frozenset(facts.accounts), reposts=frozenset(facts.reposts),
            liked=frozenset(facts.liked), hidden=frozenset(facts.hidden))) == facts


class TestRecordedPositions(ProjectionPositionsContract):
    @pytest.fixture
    def positions(self, services: ProjectionServices, keys: RedisKeys) -> RecordedPositions:
        return RecordedPositions(services.pool, services.redis, keys, services.search)

    @pytest.fixture
    def record(self, services: ProjectionServices) -> Record:
        async def record(projector: str, position: int) -> None:
            await services.projectors[projector].advance(position)  # its own write
        return record


class TestPostgresParkingLot(ParkingLotContract):
    @pytest.fixture
    def lot(self, pool: AsyncPool) -> PostgresParkingLot:
        return PostgresParkingLot(pool)


class TestRedisTimelineStore(TimelineStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[TimelineStore]:
        settings = make_settings()  # a key prefix of this test's own
        client = async_redis(settings.redis_url, settings.redis_cluster)
        try:
            yield RedisTimelineStore(client, RedisKeys(settings.redis_prefix),
                                     max_entries=MAX_ENTRIES, batch=3)
        finally:
            await client.aclose()
            clear_redis_prefix(settings)


def _row(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """A row as the fake keeps it: uuids as text, times as RFC 3339 text."""
    row = dict(zip(names, values, strict=True))
    if "aggregate_id" in row:
        row["aggregate_id"] = str(row["aggregate_id"])
    for name in ("created_at", "deleted_at", "suspended_at"):
        if row.get(name) is not None:
            row[name] = rfc3339(row[name])
    return row


async def read_tables(pool: AsyncPool) -> Tables:
    """Every read-model row and the projector's position, in the fake's form."""
    held = Tables()
    async with pool.connection() as conn:
        for table, rows in (("rm_accounts", held.accounts), ("rm_posts", held.posts),
                            ("rm_media", held.media)):
            cur = await conn.execute(f"SELECT * FROM {table}")
            names = [column.name for column in cur.description or ()]
            rows.update((int(values[0]), _row(names, values))
                        for values in await cur.fetchall())
        for kind, edge in EDGE_TABLES.items():
            cur = await conn.execute(f"SELECT {', '.join(edge.columns)} FROM {edge.table}")
            for a, b, active, version, position, since, *extra in await cur.fetchall():
                held.edges[kind][a, b] = Edge(a, b, active, version, position, rfc3339(since),
                                              *extra)
        cur = await conn.execute("SELECT tag, post_id, author_id FROM rm_post_tags")
        held.post_tags = {(tag, int(post), int(author))
                          for tag, post, author in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT position FROM projection_positions WHERE name = %s", (READ_MODELS,))
        row = await cur.fetchone()
        held.position = None if row is None else int(row[0])
    return held


class TestPostgresReadModelStore(ReadModelStoreContract):
    @pytest.fixture
    def store(self, pool: AsyncPool) -> PostgresReadModelStore:
        return PostgresReadModelStore(pool)

    @pytest.fixture
    def tables(self, pool: AsyncPool) -> ReadBack:
        return functools.partial(read_tables, pool)


class TestPostgresReadModelReader(ReadModelReaderContract):
    @pytest.fixture
    def given(self, pool: AsyncPool) -> Given:
        async def given(tables: ReadModelTables) -> PostgresReadModelReader:
            await insert_tables(pool, tables)
            return PostgresReadModelReader(pool)
        return given


class TestPostgresNotificationStore(NotificationStoreContract):
    @pytest.fixture
    async def store(self, pool: AsyncPool, redis_client: aredis.Redis, settings: Settings
                    ) -> AsyncIterator[PostgresNotificationStore]:
        yield PostgresNotificationStore(pool, redis_client, settings.redis_prefix,
                                        hot_groups=3)

    async def forget_cache(self, store: Any) -> None:
        keys = [key async for key in store.redis.scan_iter(match=f"{store.prefix}notif:*")]
        if keys:
            await store.redis.unlink(*keys)


class TestRedisTrendCounters(TrendCountersContract):
    @pytest.fixture
    def counters(self, redis_client: aredis.Redis, keys: RedisKeys) -> RedisTrendCounters:
        return RedisTrendCounters(redis_client, keys)

    @pytest.fixture
    async def unreachable(self, keys: RedisKeys) -> AsyncIterator[RedisTrendCounters]:
        client = aredis.Redis(port=devstack.free_port(), socket_connect_timeout=1)
        yield RedisTrendCounters(client, keys)
        await client.aclose()

    async def test_api_processes_that_miss_together_compute_once(
        self, redis_client: aredis.Redis, keys: RedisKeys,
    ) -> None:
        """Each ``RedisTrendCounters`` stands for one API process (its own in-process
        single flight): the Redis lock makes one of them compute, the others read
        its answer."""
        processes = [RedisTrendCounters(redis_client, keys) for _ in range(4)]
        calls, answers = await miss_together(processes)
        assert calls == 1
        assert answers == [[{"tag": "t", "call": 1}]] * 4


def test_the_notification_sql_locks_none_of_its_tables_when_up_to_date(
    settings: Settings,
) -> None:
    """``infra/notification_store.sql`` applied again over its tables (a ``migrate``
    whose recorded digest differs because ``schema.sql`` changed) takes no lock on
    them: a SHARE lock of CREATE INDEX IF NOT EXISTS, held to the end of the
    migration, can deadlock with a projector."""
    with psycopg.connect(settings.postgres_conninfo) as conn:
        conn.execute("SET search_path TO ntf_v1")  # the live copy's schema
        conn.execute(schema_sql().encode())
        locked = conn.execute(
            "SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = pg_backend_pid() AND c.relname LIKE 'ntf%%'").fetchall()
        conn.rollback()
    assert locked == []


class TestRedisLive(LiveContract):
    """The publisher and the per-process reader (``RedisLiveHub``) on a real Redis."""

    @pytest.fixture
    async def live(self, settings: Settings) -> AsyncIterator[Live]:
        client = async_redis(settings.redis_url, settings.redis_cluster)
        reader = reader_client(settings.redis_url, cluster=settings.redis_cluster)
        prefix = settings.redis_prefix
        hub = RedisLiveHub(client, reader, prefix, ttl_s=60, queue=QUEUE, block_ms=2000)
        await hub.start()

        async def expire(channel: Channel, account: int) -> None:
            await client.unlink(LiveKeys(prefix).stream(channel, account))

        try:
            yield Live(RedisLivePublisher(client, prefix, buffer=BUFFER, batch=7), hub, expire)
        finally:
            await hub.stop()
            await reader.aclose()
            await client.aclose()


class TestPostgresEventReader(EventReaderContract):
    @pytest.fixture
    async def history(self, settings: Settings) -> AsyncIterator[History]:
        bus = build_command_bus(settings)
        try:
            actors = write_history(bus)
        finally:
            close_command_bus(bus)
        reader = await open_event_reader(settings)
        try:
            yield History(reader, actors)
        finally:
            await reader.close()

    @pytest.fixture
    def given(self, pool: AsyncPool, settings: Settings) -> EventsGiven:
        async def given(aggregates: Sequence[Aggregate]) -> PostgresEventReader:
            store = PostgresEventStore(settings)
            try:
                for aggregate in aggregates:
                    store.save_all(aggregate)
            finally:
                store.close()
            return PostgresEventReader(pool)
        return given


class TestFilesystemMediaStore(MediaStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> FilesystemMediaStore:
        return FilesystemMediaStore(tmp_path / "media")

    @pytest.fixture
    def unreachable(self, tmp_path: Path) -> FilesystemMediaStore:
        blocked = tmp_path / "not-a-directory"
        blocked.write_bytes(b"a file where the store's directory should be")
        return FilesystemMediaStore(blocked)

    async def test_pages_skip_what_is_not_an_object(self, store: FilesystemMediaStore
                                                    ) -> None:
        """A crash's ``*.tmp``, stray files and directories are no objects, and a page is
        still full when they sit among the objects."""
        keys = sorted(media_key(bytes([i]) * 50, "image/png") for i in range(4))
        for key in keys:
            await store.put(key, b"x")
            (store.root / key).with_suffix(".tmp").write_bytes(b"half")
        (store.root / "zz").mkdir()
        (store.root / keys[0][:2] / "stray.txt").write_bytes(b"?")
        assert [o.key for o in await store.list_objects("", 3)] == keys[:3]
        assert [o.key for o in await store.list_objects(keys[2], 3)] == keys[3:]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


class TestS3MediaStore(MediaStoreContract):
    @pytest.fixture
    async def store(self, s3_endpoint: str) -> S3MediaStore:
        return await s3_store(s3_endpoint)

    @pytest.fixture
    def unreachable(self) -> S3MediaStore:
        return S3MediaStore("nobody", endpoint_url="http://127.0.0.1:9", timeout_s=0.5,
                            access_key_id="x", secret_access_key="x", region="us-east-1")

    async def test_pages_skip_other_tools_objects(self, store: S3MediaStore) -> None:
        """Objects under the prefix that are not media keys are skipped, and a page is
        still full: the listing reads on through S3's own pages."""
        keys = sorted(media_key(bytes([i]) * 50, "image/png") for i in range(4))
        for key in keys:
            await store.put(key, b"x")
        for n in range(5):  # sorting before, among and after the media keys
            for name in (f"0-note{n}", f"{keys[1]}.bak{n}", f"zz/other{n}"):
                store.client.put_object(Bucket=store.bucket, Key=store.prefix + name,
                                        Body=b"?")
        assert [o.key for o in await store.list_objects("", 3)] == keys[:3]
        assert [o.key for o in await store.list_objects(keys[2], 3)] == keys[3:]
        assert [o.key for o in await store.list_objects(keys[0], 1)] == keys[1:2]
