"""The event store: an ``eventsourcing`` Application on PostgreSQL."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg import sql

from commands.recorder import FailFastRecorder
from infra.serialization import build_transcoder


class RoostStore(Application[UUID]):
    """Saves aggregates atomically and reports the positions of what it saved.

    The name fixes the table (``roost_events``). The default insert mode locks
    the table while inserting, so notification ids are committed in order and
    a reader of the log never skips an event committed late.
    """

    name = "Roost"
    env = {"APPLICATION_RECORDER_TOPIC": get_topic(FailFastRecorder)}  # see commands.recorder

    def construct_transcoder(self) -> Transcoder:
        return build_transcoder()

    def save_all(self, *aggregates: Aggregate | None) -> int:
        """Save pending events in one transaction; the position of the last one."""
        recordings = self.save(*aggregates)
        return max((r.notification.id for r in recordings), default=0)

    def get_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The position of an aggregate's event at ``version`` (0 if unknown)."""
        recorder = self.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT notification_id FROM {} "
                    "WHERE originator_id = %s AND originator_version = %s"
                ).format(sql.Identifier(recorder.events_table_name)),
                (aggregate_id, version),
            )
            row = cur.fetchone()
        return int(row["notification_id"]) if row else 0
