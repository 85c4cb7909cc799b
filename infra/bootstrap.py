"""The composition root: everything a process needs is built here, from ``Settings``.

One function per process (docs/architecture.md, "The composition root"):

* ``build_api`` -- the HTTP process's ``ApiServices`` (command bus, query context,
  rate limiter, token issuer, pool, Redis, search index, trend counters), closed by
  ``ApiServices.close``;
  ``create_app``'s lifespan only calls it.
* ``build_worker`` -- the stream worker's Faust app: one agent and one sweep per
  projector over one ``ProjectionServices``, and the worker heartbeat.
* ``build_relay`` -- the relay, with its producer factory and backoff.
* ``build_event_reader`` -- the filtered, batched reader of the event stream
  (``roost events``, ``roost timeline show``).

and the parts they share, which tests and operator commands also build:
``build_command_bus`` (the write side), ``build_queries`` (the read side),
``build_projections`` and ``build_runner`` (the projectors). Each adapter is
constructed on one line of these functions, so swapping one is a one-line change.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime

import faust
import redis.asyncio as aredis
import structlog

from commands.bus import CommandBus
from commands.context import CommandContext
from commands.ports import SessionRevocations
from domain.ids import SnowflakeGenerator
from infra.copies import copy_number
from infra.database import AsyncPool, open_pool
from infra.event_reader import PostgresEventReader, open_event_reader
from infra.event_store import PostgresEventStore, RoostStore
from infra.event_types import known_event_types
from infra.eventlog import PostgresEventLogHead, max_position, read_envelopes, store_identity
from infra.failures import is_transient
from infra.health import SharedProgress, write_heartbeat
from infra.http.services import ApiServices
from infra.http.streaming import Renderers, start_live
from infra.kafka import make_producer
from infra.kafka_fetch_patch import pause_empty_fetches
from infra.lease import RedisLease
from infra.live import RedisLivePublisher
from infra.live_timelines import FollowingTimelineStore, LiveTimelines
from infra.live_trends import LiveTrendCounters
from infra.media_processing import MediaProcessor, StoreFactory
from infra.media_store import FilesystemMediaStore, S3MediaStore
from infra.media_sweeper import SweepDeferred, sweep_with
from infra.metrics import (
    PARKED_EVENTS,
    PROJECTED_EVENTS,
    PROJECTION_LAG_SECONDS,
    REBUILT_EVENTS,
    observe_timeline_rebuild,
)
from infra.notification_store import PostgresNotificationStore
from infra.page_facts import RedisFactsCache
from infra.page_reads import RedisPageReads
from infra.parking import PostgresParkingLot
from infra.positions import RecordedPositions
from infra.post_cache import RedisPostCache
from infra.rate_limiter import RateLimiter
from infra.read_model_reader import PostgresReadModelReader
from infra.read_model_store import PostgresReadModelStore
from infra.redis_clients import build_async_redis, build_sync_redis
from infra.redis_copies import copy_keys, following
from infra.redis_keys import RedisKeys
from infra.resilience import Guard
from infra.search_copies import FollowingSearchIndex, generation_index
from infra.search_index import ElasticsearchIndex, build_client
from infra.search_schema import SearchNames
from infra.security import Argon2Passwords, JwtTokens, RedisRevocations
from infra.settings import Settings
from infra.timeline_store import RedisTimelineStore
from infra.trend_counters import RedisTrendCounters
from ports.events import EventEnvelope
from ports.media_store import MediaStore
from ports.parking import ParkingLot
from ports.positions import ProjectionPositions
from ports.projectors import NOTIFICATIONS, PROJECTORS, READ_MODELS, SEARCH, TIMELINES, TRENDS
from projections.base import Projector
from projections.notifications import NotificationProjector
from projections.read_models import ReadModelProjector
from projections.runner import Lease, ProjectionRunner
from projections.search import SearchProjector
from projections.timelines import TimelineProjector
from projections.trends import TrendsProjector
from queries.context import QueryContext, TimelinePolicy
from queries.hydration_cache import HydrationCache
from queries.positions import PositionWatcher
from streams.faust_app import add_projection_agent, create_faust_app, events_topic
from streams.liveness import Liveness
from streams.relay import ProducerFactory, Relay

log = structlog.get_logger(__name__)


def build_command_bus(settings: Settings, tokens: JwtTokens | None = None, *,
                      store: RoostStore | None = None,
                      revocations: SessionRevocations | None = None) -> CommandBus:
    """The write side: the event store and what handlers need (all synchronous).

    ``tokens`` is the process's token issuer (the API passes the one its
    middleware and routes verify with); a process that only runs commands
    (tests, the bench loader) gets one of its own. ``store`` and ``revocations``
    replace the PostgreSQL event store and the Redis revocation list (handler
    tests pass ``MemoryEventStore()`` and a fake). ``close_command_bus`` closes
    what this built.
    """
    context = CommandContext(
        store=store or PostgresEventStore(settings),
        passwords=Argon2Passwords(settings),
        tokens=tokens or JwtTokens(settings),
        revocations=revocations or RedisRevocations(
            build_sync_redis(settings), RedisKeys(settings.redis_prefix)),
        ids=SnowflakeGenerator(settings.node_id),
    )
    return CommandBus(context)


def close_command_bus(bus: CommandBus) -> None:
    """Close the connections of a bus from ``build_command_bus``: the event store's and the
    revocation list's (fakes have none)."""
    if isinstance(bus.context.store, RoostStore):
        bus.context.store.close()
    if isinstance(bus.context.revocations, RedisRevocations):
        bus.context.revocations.close()


def build_search_index(settings: Settings) -> ElasticsearchIndex:
    """The search index adapter (its own client: close it with ``close()``): the
    generation the aliases point at (``ROOST_SEARCH_INDEX_GENERATION`` until there is
    an alias), followed across blue-green switches."""
    return FollowingSearchIndex(
        build_client(settings.elasticsearch_url, settings.elasticsearch_request_timeout_s),
        SearchNames(settings.elasticsearch_prefix, settings.search_index_generation),
        stemmer=settings.search_stemmer, rename_timeout_s=settings.search_rename_timeout_s)


def build_queries(settings: Settings, pool: AsyncPool, client: aredis.Redis,
                  keys: RedisKeys, positions: ProjectionPositions | None = None
                  ) -> QueryContext:
    """The read side over the API's pool and Redis client, with its position watcher
    (over ``positions``, the process's reader of the projectors' positions)."""
    positions = positions or RecordedPositions(pool, client, keys)
    post_cache, facts = RedisPostCache(client, keys), RedisFactsCache(client, keys)
    return QueryContext(
        PostgresReadModelReader(pool),
        LiveTimelines(client, keys, settings.timeline_max_entries),
        PostgresEventLogHead(pool), on_rebuild=observe_timeline_rebuild,
        post_cache=post_cache, facts=facts, page_reads=RedisPageReads(post_cache, facts),
        hydration=HydrationCache(),
        policy=TimelinePolicy(
            max_entries=settings.timeline_max_entries,
            active_ttl_s=int(settings.active_days * 86400),
            rebuild_wait_s=settings.min_position_wait_s,
        ),
        positions=positions, position_watcher=PositionWatcher(positions),
        notifications=build_notification_store(settings, pool, client),
        media_base_url=settings.media_base_url,
    )


def build_media_store(settings: Settings) -> MediaStore:
    """The S3 store when ``ROOST_MEDIA_S3_BUCKET`` is set, else the directory
    ``ROOST_MEDIA_DIR`` (the development default)."""
    if settings.media_s3_bucket:
        return S3MediaStore(
            settings.media_s3_bucket, endpoint_url=settings.media_s3_endpoint_url,
            region=settings.media_s3_region, access_key_id=settings.media_s3_access_key_id,
            secret_access_key=settings.media_s3_secret_access_key,
            prefix=settings.media_s3_prefix)
    return FilesystemMediaStore(settings.media_dir)


def media_store_factory(settings: Settings) -> StoreFactory:
    """``build_media_store(settings)`` to be called later, in another process: what a
    media pool process builds its own store with (``infra.media_processing``; picklable,
    as the pool's processes are spawned)."""
    return functools.partial(build_media_store, settings)


async def build_api(settings: Settings, tokens: JwtTokens | None = None,
                    live_renderers: Callable[[QueryContext], Renderers] | None = None
                    ) -> ApiServices:
    """Everything the HTTP process serves with, its live streams started; ``tokens`` is
    the process's one issuer (``create_app`` builds it before the lifespan, for the
    middleware); ``live_renderers`` adds or replaces some of the streams' renderers
    (``infra.http.streaming.stream_renderers``; tests).

    Raises:
        whatever opening the pool or the event store raises (PostgreSQL down);
        what was opened by then is closed.
    """
    tokens = tokens or JwtTokens(settings)
    async with AsyncExitStack() as resources:
        pool = await open_pool(settings)
        resources.push_async_callback(pool.close)
        client = build_async_redis(settings)
        resources.push_async_callback(client.aclose)
        bus = build_command_bus(settings, tokens)
        resources.callback(close_command_bus, bus)
        keys = RedisKeys(settings.redis_prefix)
        search = build_search_index(settings)
        resources.push_async_callback(search.close)
        positions = RecordedPositions(pool, client, keys, search)
        processor = MediaProcessor(settings.media_workers, media_store_factory(settings),
                                   settings.media_max_bytes,
                                   settings.media_max_pixels, settings.media_max_pending,
                                   settings.media_worker_priority,
                                   settings.media_max_wait_s)
        resources.callback(processor.close)
        if settings.media_warm_up:
            processor.warm_up()
        services = ApiServices(
            settings=settings, bus=bus,
            queries=build_queries(settings, pool, client, keys, positions),
            tokens=tokens, pool=pool, redis=client, keys=keys, positions=positions,
            rate_limiter=RateLimiter(client, settings), search=search,
            trends=LiveTrendCounters(client, keys), events=PostgresEventReader(pool),
            media_store=build_media_store(settings), media_processor=processor,
            progress=SharedProgress(client, keys.health_progress()),
            resources=resources,
        )
        services.live = await start_live(
            settings, client, services.queries, resources,
            extra=live_renderers(services.queries) if live_renderers else None)
        services.resources = resources.pop_all()
    return services


def build_relay(settings: Settings, producer_factory: ProducerFactory = make_producer) -> Relay:
    """The relay (event store -> Kafka); ``producer_factory`` builds its Kafka producer."""
    return Relay(settings, producer_factory=producer_factory)


@dataclass
class ProjectionServices:
    """The projectors with the connections they share, their parking lot, and where
    their positions are read. ``follow``: per projector kept in Redis copies, how its
    store moves to the live copy (``infra.redis_copies``; the runner calls it under
    the projector lease)."""

    pool: AsyncPool
    redis: aredis.Redis
    projectors: dict[str, Projector]
    parking: ParkingLot
    positions: ProjectionPositions
    search: ElasticsearchIndex
    follow: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)

    async def follow_live(self, name: str) -> None:
        """Move projector ``name``'s store to the live copy (nothing for one that
        follows it by itself); for writes made outside a runner."""
        follow = self.follow.get(name)
        if follow is not None:
            await follow()

    async def close(self) -> None:
        await self.search.close()
        await self.redis.aclose()
        await self.pool.close()


def build_notification_store(settings: Settings, pool: AsyncPool, client: aredis.Redis,
                             copy: str | None = None) -> PostgresNotificationStore:
    """The notification store of the live copy, or of copy ``copy`` (a rebuild's)."""
    return PostgresNotificationStore(
        pool, client, settings.redis_prefix, hot_groups=settings.notifications_hot_groups,
        cache_ttl_s=int(settings.active_days * 86400), copy=copy)


def build_live_publisher(settings: Settings, client: aredis.Redis) -> RedisLivePublisher:
    """Where projections announce live events (Server-Sent Events, ``ports.live``): one
    Redis Streams publisher that every projector of the process shares (the timelines
    announce on the ``home`` and ``author`` channels, the notifications on
    ``notifications``)."""
    return RedisLivePublisher(client, settings.redis_prefix, buffer=settings.live_buffer,
                              batch=settings.fanout_batch)


async def build_projections(settings: Settings, *, live: bool = False) -> ProjectionServices:
    """Every projector. ``live``: they announce live events to connected clients through
    one publisher (the worker only; never a rebuild or a replay of parked events)."""
    pool = await open_pool(settings)
    client = build_async_redis(settings)
    keys = RedisKeys(settings.redis_prefix)
    publisher = build_live_publisher(settings, client) if live else None
    search = build_search_index(settings)
    timelines = FollowingTimelineStore(client, keys, settings.timeline_max_entries,
                                       batch=settings.fanout_batch)
    trends = LiveTrendCounters(client, keys)
    projectors: dict[str, Projector] = {
        READ_MODELS: ReadModelProjector(PostgresReadModelStore(pool), RedisPostCache(client, keys),
                                        RedisFactsCache(client, keys)),
        TIMELINES: TimelineProjector(
            timelines,
            backfill=settings.follow_backfill, celebrity_threshold=settings.celebrity_threshold,
            live=publisher,
        ),
        NOTIFICATIONS: NotificationProjector(
            build_notification_store(settings, pool, client),
            live=publisher,
            max_groups=settings.notifications_max_groups,
        ),
        SEARCH: SearchProjector(search),
        TRENDS: TrendsProjector(trends,
                                new_account_days=settings.trends_new_account_days),
    }
    return ProjectionServices(pool, client, projectors, PostgresParkingLot(pool),
                              RecordedPositions(pool, client, keys, search), search,
                              follow={TIMELINES: timelines.follow, TRENDS: trends.follow})


def build_runner(settings: Settings, services: ProjectionServices, name: str,
                 liveness: Liveness | None = None) -> ProjectionRunner:
    """The runner of projector ``name``; each applied event beats ``liveness``."""
    # The read models lock their position row in PostgreSQL; the timelines and
    # trends keep theirs in Redis and the search index in Elasticsearch, so applies
    # from several processes take a lease.
    lease: Lease | None = projector_lease(settings, services.redis, name).hold \
        if name in (TIMELINES, SEARCH, TRENDS) else None
    if lease is not None and name in services.follow:
        lease = following(lease, services.follow[name])

    def on_applied(projector: str, event: EventEnvelope) -> None:
        PROJECTED_EVENTS.labels(projector).inc()
        if event.occurred_at:
            PROJECTION_LAG_SECONDS.labels(projector).set(_age_s(event.occurred_at))
        if liveness is not None:
            liveness.beat(projector)

    return _runner(settings, services, services.projectors[name], on_applied, lease)


def _runner(settings: Settings, services: ProjectionServices, projector: Projector,
            on_applied: Callable[[str, EventEnvelope], None], lease: Lease | None,
            page: int = 1000, batch_size: int = 200) -> ProjectionRunner:
    async def read_log(after: int, upto: int) -> list[EventEnvelope]:
        async with services.pool.connection() as conn:
            return await read_envelopes(conn, after, upto, limit=page)

    return ProjectionRunner(
        projector, read_log, services.parking,
        max_attempts=settings.projector_max_attempts, backoff_s=settings.projector_backoff_s,
        on_applied=on_applied,
        on_parked=lambda projector, _event: PARKED_EVENTS.labels(projector).inc(),
        lease=lease, known_types=known_event_types(), transient=is_transient,
        batch_size=batch_size,
    )


def build_copy_projector(settings: Settings, services: ProjectionServices, name: str,
                         copy: str) -> Projector:
    """Projector ``name`` writing copy ``copy`` (``v2``, ``scratch``: ``infra.copies``)
    beside the live one, for a blue-green rebuild or a verify. It has no side
    effects outside that copy: no live events (no publisher), no post-cache counts.

    Raises:
        KeyError: ``name`` has no copies yet.
    """
    builders: dict[str, Callable[[], Projector]] = {
        READ_MODELS: lambda: ReadModelProjector(
            PostgresReadModelStore(services.pool, READ_MODELS, copy=copy), counts_sink=None),
        SEARCH: lambda: SearchProjector(generation_index(services.search, copy_number(copy))),
        TIMELINES: lambda: TimelineProjector(
            build_copy_timeline_store(settings, services, copy),
            backfill=settings.follow_backfill, celebrity_threshold=settings.celebrity_threshold),
        NOTIFICATIONS: lambda: NotificationProjector(
            build_notification_store(settings, services.pool, services.redis, copy),
            max_groups=settings.notifications_max_groups),
        TRENDS: lambda: TrendsProjector(
            RedisTrendCounters(services.redis,
                               copy_keys(RedisKeys(settings.redis_prefix), TRENDS, copy)),
            new_account_days=settings.trends_new_account_days),
    }
    return builders[name]()


def build_copy_timeline_store(settings: Settings, services: ProjectionServices,
                              copy: str) -> RedisTimelineStore:
    """The timeline store of copy ``copy`` (``infra.redis_copies.copy_keys``)."""
    return RedisTimelineStore(
        services.redis, copy_keys(RedisKeys(settings.redis_prefix), TIMELINES, copy),
        settings.timeline_max_entries, batch=settings.fanout_batch)


def build_copy_runner(settings: Settings, services: ProjectionServices,
                      projector: Projector) -> ProjectionRunner:
    """The runner of a copy's projector: pages of ``settings.rebuild_page`` events read
    by position, applied ``settings.rebuild_batch`` per transaction; no lease (only the
    rebuild writes the copy) and its own counter, ``roost_rebuilt_events_total``."""
    return _runner(settings, services, projector,
                   lambda name, _event: REBUILT_EVENTS.labels(name).inc(), None,
                   page=settings.rebuild_page, batch_size=settings.rebuild_batch)


def _age_s(occurred_at: str) -> float:
    """Seconds since an envelope's ``occurred_at`` (RFC 3339), at least 0."""
    try:
        return max(0.0, time.time() - datetime.fromisoformat(occurred_at).timestamp())
    except ValueError:
        return 0.0


def projector_lease(settings: Settings, client: aredis.Redis, name: str) -> RedisLease:
    return RedisLease(client, RedisKeys(settings.redis_prefix).projector_lease(name),
                      ttl_s=settings.projector_lease_ttl_s)


def rebuild_lease(settings: Settings, client: aredis.Redis, name: str) -> RedisLease:
    """Held by whoever rebuilds projection ``name`` blue-green (the CLI, a worker after a
    version bump); taken at once or not at all (``LeaseTimeout``), so two workers
    starting together do not both rebuild."""
    return RedisLease(client, RedisKeys(settings.redis_prefix).projector_lease(f"{name}:rebuild"),
                      ttl_s=max(settings.projector_lease_ttl_s, 10.0), wait_s=0.0)


def build_worker(settings: Settings) -> faust.App:
    """The Faust app with one agent per projector, sharing one set of connections."""
    pause_empty_fetches(settings.kafka_empty_fetch_pause_ms / 1000)
    app = create_faust_app(settings)
    topic = events_topic(app, settings)
    shared: dict[str, ProjectionServices] = {}
    lock = asyncio.Lock()

    async def services() -> ProjectionServices:
        async with lock:  # both agents start at once; build the connections once
            if "services" not in shared:
                shared["services"] = await build_projections(settings, live=True)
        return shared["services"]

    async def store_position() -> int:
        async with (await services()).pool.connection() as conn:
            return await max_position(conn)

    async def own_store() -> str:
        async with (await services()).pool.connection() as conn:
            return await store_identity(conn)

    runners: dict[str, ProjectionRunner] = {}
    liveness = Liveness(PROJECTORS)

    for name in PROJECTORS:
        async def get_runner(name: str = name) -> ProjectionRunner:
            built = await services()
            if name not in runners:  # one runner per projector: its lock orders applies
                runners[name] = build_runner(settings, built, name, liveness)
            return runners[name]

        add_projection_agent(app, topic, name, get_runner, store_position,
                             settings.sweep_interval_s, liveness, own_store)

    stopped = app.on_shutdown  # mode's last step of a stop: after the agents stopped

    async def close_services() -> None:
        """Close the shared connections once nothing uses them (the Elasticsearch
        client's aiohttp session logged "Unclosed client session" at every stop)."""
        await stopped()
        built = shared.pop("services", None)
        if built is not None:
            try:
                await built.close()
            except Exception as error:  # the process is ending: say so, go on
                log.warning("worker.close_failed", error=repr(error))

    app.on_shutdown = close_services  # type: ignore[method-assign]

    guard = Guard("worker-heartbeat")

    async def beat() -> None:
        built = await services()
        silent = liveness.silent(settings.health_max_worker_silence_s)
        if silent:
            log.warning("heartbeat.loops_silent", silent=silent)
        await write_heartbeat(built.redis, RedisKeys(settings.redis_prefix).worker_heartbeat(),
                              settings.heartbeat_ttl_s, silent=silent)

    async def heartbeat() -> None:
        """Lets /health tell that a worker is consuming: the key outlives a few beats,
        and names the projection loops that have made no progress lately."""
        await guard.once(beat)

    app.timer(settings.heartbeat_interval_s, name="worker-heartbeat")(heartbeat)

    async def rebuild_bumped() -> None:
        """Once on start: rebuild, blue-green, each projection whose code version is
        above its live copy's (``infra.rebuild.rebuild_outdated``: one worker of
        several, under the rebuild lease). The agents keep the live copy current
        meanwhile; a failure is logged and the live copy serves on."""
        from infra.rebuild import rebuild_outdated

        try:
            await rebuild_outdated(settings, await services())
        except Exception as error:
            log.error("rebuild.on_start_failed", error=repr(error))

    if settings.rebuild_on_version_bump:
        app.task(rebuild_bumped)
    if settings.media_sweep_interval_s > 0:
        media_store = build_media_store(settings)
        sweep_guard = Guard("media-sweep", initial_s=60.0, max_s=3600.0)

        async def sweep_once() -> None:
            built = await services()
            try:
                await sweep_with(settings, media_store, built.pool, built.positions)
            except SweepDeferred as deferred:  # the next tick tries again
                log.info("media.sweep_deferred", reason=str(deferred))

        async def media_sweep() -> None:
            """Removes media objects nothing serves any more (infra/media_sweeper.py)."""
            await sweep_guard.once(sweep_once)

        app.timer(settings.media_sweep_interval_s, name="media-sweep")(media_sweep)
    return app


async def build_event_reader(settings: Settings) -> PostgresEventReader:
    """The ``ports.event_reader.EventReader`` of ``roost events`` and ``roost timeline show``
    (and the admin endpoints'): ``PostgresEventReader`` on a small pool of its own, on
    ``ROOST_EVENTS_REPLICA_URL`` when set, else the event store's database; its
    ``close`` closes the pool. Raises ``psycopg_pool.PoolTimeout`` when the database
    does not answer."""
    return await open_event_reader(settings)
