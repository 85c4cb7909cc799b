"""Which failures are the infrastructure's (wait and retry) and which the event's (park).

A projector that fails because PostgreSQL or Redis cannot be reached must not
park the event: the event is fine, and parking it would set a good event aside
for an operator (or fail as well). Such a failure is raised to the loop that
feeds the runner, which backs off and resumes from the recorded position.
Any other failure is the event's: it is retried a few times, then parked.
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


class UnknownEventType(Exception):
    """The event's type names no event class this code knows (parked at once)."""


def is_transient(error: BaseException) -> bool:
    """True when ``error`` says a dependency is unavailable, not that the event is bad."""
    if isinstance(error, DependencyUnavailable | PoolTimeout | PoolClosed
                  | psycopg.InterfaceError):
        return True
    if isinstance(error, psycopg.OperationalError):
        state = error.sqlstate
        return state is None or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError
                  | redis.exceptions.BusyLoadingError):
        return True
    return isinstance(error, OSError | TimeoutError)
