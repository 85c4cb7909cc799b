"""Redis clients: a single server, or a Redis Cluster (``ROOST_REDIS_CLUSTER=true``).

Every place that builds a Redis client builds it here, so one setting switches the
whole process to redis-py's cluster client (``redis.asyncio.cluster.RedisCluster``,
``redis.cluster.RedisCluster``). ``redis_url`` then names any one node of the
cluster; the client discovers the rest (``CLUSTER SLOTS``) and follows ``MOVED``.

The cluster clients are typed as the single-server ones (``cast``): Roost uses the
commands both have, and keeps every multi-key command, script and transaction to
keys of one hash slot (docs/architecture.md, "Redis key layout and hash tags"), so
the same code runs on both. The difference the adapters handle is told here:
``is_cluster`` (a script queued on a cluster pipeline goes as its text, ``EVAL``:
``infra.lua.PipelinedScript``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterPipeline as AsyncClusterPipeline
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from infra.settings import Settings


def async_redis(url: str, cluster: bool, **options: Any) -> aredis.Redis:
    """An async client of ``url`` (one node of it when ``cluster``); ``options`` are
    the client's keyword arguments (``socket_timeout``...)."""
    if cluster:
        return cast(aredis.Redis, _AsyncCluster.from_url(url, **options))
    return aredis.Redis.from_url(url, **options)


def _unreachable(error: RedisClusterException) -> Exception:
    """redis-py's "Redis Cluster cannot be connected" as the ``ConnectionError`` a
    single server that is down raises (what the adapters catch as an outage); any
    other cluster error as it is."""
    if "cannot be connected" in str(error):
        return redis.exceptions.ConnectionError(str(error))
    return error


class _AsyncCluster(AsyncRedisCluster):
    """The async cluster client, but no node reachable is a ``ConnectionError``."""

    async def initialize(self, *args: Any, **kwargs: Any) -> AsyncRedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as error:
            raise _unreachable(error) from error

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except RedisClusterException as error:
            raise _unreachable(error) from error


def sync_redis(url: str, cluster: bool, **options: Any) -> redis.Redis:
    """A synchronous client of ``url`` (one node of it when ``cluster``). Like the
    single-server client, it connects at its first command: a process starts while
    the cluster is down (redis-py's synchronous cluster client connects when made)."""
    if cluster:
        return cast(redis.Redis, _LazyCluster(url, options))
    return redis.Redis.from_url(url, **options)


class _LazyCluster:
    """A ``redis.cluster.RedisCluster`` made at its first use; ``close`` before that
    closes nothing."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._client: RedisCluster | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            try:
                self._client = RedisCluster.from_url(self._url, **self._options)
            except RedisClusterException as error:
                raise _unreachable(error) from error
        return getattr(self._client, name)


def build_async_redis(settings: Settings) -> aredis.Redis:
    """A process's async Redis client over a pool of at most
    ``ROOST_REDIS_MAX_CONNECTIONS`` connections. When all are in use a command waits
    (``BlockingConnectionPool``) up to ``ROOST_REDIS_POOL_TIMEOUT_S`` seconds for one,
    then raises ``redis.ConnectionError`` ("No connection available."), which
    ``infra.failures.is_transient`` counts as an outage. redis-py's default pool
    (100 connections) raises ``MaxConnectionsError`` at once instead: a burst of
    streams opening (each checks its token and rate limit in Redis) answered 503s.
    The client owns the pool: ``aclose()`` closes it.

    On a cluster (``ROOST_REDIS_CLUSTER``) the cluster client keeps a pool per node of
    at most ``ROOST_REDIS_MAX_CONNECTIONS`` connections, and a command that finds its
    node's pool exhausted raises ``MaxConnectionsError`` at once (redis-py's cluster
    client has no blocking pool)."""
    if settings.redis_cluster:
        return async_redis(settings.redis_url, True,
                           max_connections=settings.redis_max_connections)
    pool = aredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s)
    return aredis.Redis.from_pool(pool)


def build_sync_redis(settings: Settings, **options: Any) -> redis.Redis:
    """A synchronous client of the settings' Redis (single or cluster)."""
    return sync_redis(settings.redis_url, settings.redis_cluster, **options)


T = TypeVar("T")


def by_slot(items: Iterable[T], key: Callable[[T], str], cluster: bool) -> list[list[T]]:
    """``items`` in groups whose keys (``key(item)``) share a hash slot, in the order
    each group first appears; one group when not on a ``cluster``."""
    if not cluster:
        return [list(items)]
    groups: dict[int, list[T]] = {}
    for item in items:
        groups.setdefault(key_slot(key(item).encode()), []).append(item)
    return list(groups.values())


def is_cluster(client: object) -> bool:
    """Whether ``client`` (a client or a pipeline) talks to a Redis Cluster."""
    return isinstance(client, AsyncRedisCluster | AsyncClusterPipeline | RedisCluster
                      | _LazyCluster)
