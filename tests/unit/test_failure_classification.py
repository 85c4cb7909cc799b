"""``infra.failures.is_transient``: which errors of psycopg, psycopg_pool, redis-py and
the OS the projection runner takes for an outage (wait and retry, park nothing) and
which for the event's own failure (retry, then park)."""

from __future__ import annotations

import psycopg
import pytest
import redis.exceptions
from psycopg import errors
from psycopg_pool import PoolClosed, PoolTimeout

from infra.failures import is_transient
from ports.errors import DependencyUnavailable
from projections.failures import UnknownEventType


@pytest.mark.parametrize("error", [
    DependencyUnavailable("post cache: down"),
    PoolTimeout("couldn't get a connection after 1.00 sec"),
    PoolClosed("the pool is closed"),
    psycopg.InterfaceError("the connection is closed"),
    psycopg.OperationalError("server closed the connection unexpectedly"),  # no SQLSTATE
    errors.AdminShutdown("terminating connection due to administrator command"),  # 57P01
    errors.CannotConnectNow("the database system is starting up"),  # 57P03
    errors.SerializationFailure("could not serialize access"),  # 40001
    errors.DeadlockDetected("deadlock detected"),  # 40P01
    errors.TooManyConnections("sorry, too many clients already"),  # 53300
    errors.LockNotAvailable("could not obtain lock"),  # 55P03
    redis.exceptions.ConnectionError("Connection refused"),
    redis.exceptions.TimeoutError("Timeout reading from socket"),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
    redis.exceptions.TryAgainError("TRYAGAIN Multiple keys request during rehashing"),
    redis.exceptions.SlotNotCoveredError("Slot 42 is not covered by the cluster"),
    redis.exceptions.RedisClusterException(
        "Redis Cluster cannot be connected. Please provide at least one reachable node"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
])
def test_an_outage_is_transient(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    KeyError("post_id"),
    ValueError("A string literal cannot contain NUL (0x00) characters."),
    UnknownEventType("unknown event type 'NoSuchEvent'"),
    errors.UniqueViolation("duplicate key value violates unique constraint"),  # 23505
    errors.NumericValueOutOfRange("bigint out of range"),  # 22003
    errors.ProgramLimitExceeded("index row size exceeds maximum"),  # 54000
    errors.ObjectInUse("database is being accessed by other users"),  # 55006, not 55P03
    redis.exceptions.ResponseError("WRONGTYPE Operation against a key"),
    redis.exceptions.RedisClusterException("EVALSHA - all keys must map to the same key slot"),
])
def test_a_bad_event_is_not_transient(error: BaseException) -> None:
    assert not is_transient(error)
