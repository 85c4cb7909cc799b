"""Which errors of the drivers (psycopg, psycopg_pool, redis-py) and the OS say that a
dependency is unavailable: the projection runner's ``TransientCheck``
(``projections.failures``), handed to it by ``infra.bootstrap.build_runner``.

Such a failure is not the event's: the runner parks nothing and raises it to
its supervised loop, which backs off and resumes from the recorded position.
"""

from __future__ import annotations

import psycopg
import redis.exceptions
from psycopg_pool import PoolClosed, PoolTimeout

from ports.errors import DependencyUnavailable

# SQLSTATE classes of a server that is going away or overloaded, not of bad data:
# 08 connection exception, 40 transaction rollback (serialization, deadlock),
# 53 insufficient resources, 57 operator intervention (shutdown, cannot connect now),
# 55P03 lock not available.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57", "55P03")


def is_transient(error: BaseException) -> bool:
    """True when ``error`` says a dependency is unavailable, not that the event is bad:
    ``DependencyUnavailable``, a pool timeout or closed pool, a psycopg interface error
    or an operational error of SQLSTATE class 08, 40, 53, 57 or 55P03 (or none), a
    Redis connection, timeout or busy-loading error, a Redis Cluster that is down,
    resharding (``TRYAGAIN``), without a node for a slot or with no node reachable, any
    ``OSError`` or ``TimeoutError``."""
    if isinstance(error, DependencyUnavailable | PoolTimeout | PoolClosed
                  | psycopg.InterfaceError):
        return True
    if isinstance(error, psycopg.OperationalError):
        state = error.sqlstate
        return state is None or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError
                  | redis.exceptions.BusyLoadingError | redis.exceptions.ClusterDownError
                  | redis.exceptions.TryAgainError | redis.exceptions.SlotNotCoveredError):
        return True
    if isinstance(error, redis.exceptions.RedisClusterException):
        return "cannot be connected" in str(error)  # no node reachable (not CROSSSLOT)
    return isinstance(error, OSError | TimeoutError)
