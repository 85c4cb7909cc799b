"""Every PostgreSQL advisory lock key Roost takes, in one place.

Advisory locks share one key space per database, so two features that picked the
same number would wait on each other: the event table's DDL once used the relay's
key, and ``make up`` hung with the API's store waiting on the active relay's
lock. ``@unique`` makes a second use of a number an import error.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class AdvisoryLock(IntEnum):
    """The keys (``pg_advisory_lock(key)``), each with the one job it serialises."""

    MIGRATION = 7470001
    """``infra.database.migrate``: one migrator at a time (transaction lock)."""
    RELAY = 7470002
    """``streams.relay``: the one active relay (session lock, held while active)."""
    EVENT_TABLE_DDL = 7470003
    """``infra.event_store.FailFastRecorder.create_table``: the library's DDL."""
