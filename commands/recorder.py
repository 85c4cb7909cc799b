"""The event store's recorder, failing fast when PostgreSQL does not answer.

``eventsourcing`` retries every insert and select ten times on an
``OperationalError`` -- with the pool's connection wait, a write would hang
for many seconds while PostgreSQL is down. Two attempts cover what retrying is
for (a pooled connection that broke when the server restarted); then the
error reaches the HTTP edge, which answers 503 with Retry-After at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry

ATTEMPTS = 2
WAIT_S = 0.05


def _fewer_attempts(method: Callable[..., Any]) -> Any:
    original = method.__wrapped__  # type: ignore[attr-defined]
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=WAIT_S)(original)


class FailFastRecorder(PostgresApplicationRecorder):
    insert_events = _fewer_attempts(PostgresApplicationRecorder.insert_events)
    select_events = _fewer_attempts(PostgresApplicationRecorder.select_events)
    select_notifications = _fewer_attempts(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _fewer_attempts(PostgresApplicationRecorder.max_notification_id)
