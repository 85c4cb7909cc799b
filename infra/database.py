"""PostgreSQL: creating the database, the async pool, and the schema."""

from __future__ import annotations

import contextlib
import hashlib
from importlib import resources

import psycopg
from psycopg import AsyncConnection, errors, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from infra.advisory_locks import AdvisoryLock
from infra.event_store import PostgresEventStore
from infra.notification_store import schema_sql as notification_schema_sql
from infra.settings import Settings

AsyncPool = AsyncConnectionPool[AsyncConnection[TupleRow]]


def schema_sql() -> str:
    """``infra/schema.sql``: every table beside the event store's (positions,
    parked events, relay positions, the store identity); idempotent."""
    return resources.files("infra").joinpath("schema.sql").read_text()


def migration_sql() -> str:
    """What ``migrate`` hashes: ``schema.sql`` (which it applies), the notification
    store's ``notification_store.sql`` (``infra.notification_store.schema_sql``) and
    the read models' ``read_models.sql``, which it applies inside each projection's
    live copy's schema (``infra.copies.migrate_copies``), and the projections kept in
    PostgreSQL copies (a database from before one had copies is migrated again); so
    a change to any of them changes the digest and is applied."""
    from infra.copies import PG_COPIES, read_models_sql

    return (schema_sql() + "\n" + notification_schema_sql() + "\n" + read_models_sql()
            + f"\n-- copies: {', '.join(sorted(PG_COPIES))}\n")


def ensure_database(settings: Settings) -> None:
    """Create the configured database if the server does not have it yet; safe when
    several processes (parts, API processes) start together on a new server."""
    admin = settings.model_copy(update={"postgres_dbname": "postgres"})
    with psycopg.connect(admin.postgres_conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_dbname,)
        ).fetchone()
        if exists:
            return
        # Another part starting at the same moment may create it first.
        with contextlib.suppress(errors.DuplicateDatabase, errors.UniqueViolation):
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres_dbname))
            )


def drop_database(settings: Settings) -> None:
    admin = settings.model_copy(update={"postgres_dbname": "postgres"})
    with psycopg.connect(admin.postgres_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(settings.postgres_dbname)
            )
        )


async def open_pool(settings: Settings, max_size: int | None = None) -> AsyncPool:
    pool: AsyncPool = AsyncConnectionPool(
        settings.postgres_conninfo,
        min_size=1,
        max_size=max_size or settings.postgres_pool_size,
        open=False,
        kwargs={"autocommit": True},
        timeout=settings.postgres_pool_timeout_s,
    )
    try:
        await pool.open(wait=True, timeout=10)
    except BaseException:
        await pool.close()  # or its workers keep connecting in the background
        raise
    return pool


MIGRATION_CONNECT_TIMEOUT_S = 10
"""Seconds ``migrate`` waits for its event-store connection (at least)."""


def migrate(settings: Settings) -> None:
    """Database, event table and read-model tables: everything Roost needs to start.

    Every part runs this at start-up, beside parts already serving. The schema
    is applied only when its text differs from the one recorded as applied
    (``schema_applied``, keyed by its SHA-256): its ``CREATE INDEX IF NOT
    EXISTS`` and ``ALTER TABLE ... IF NOT EXISTS`` take table locks even when
    they change nothing, and a part restarting under load (the relay after a
    SIGKILL) deadlocked on them with the worker's read-model transactions.
    An up-to-date database is now checked with one lock-free ``SELECT``. The
    text hashed is ``migration_sql()``: ``schema.sql`` and the projections' SQL
    (applied in their copies' schemas; the notification store's takes no lock on
    tables that exist).
    """
    from infra.copies import migrate_copies

    ensure_database(settings)
    # creates the events table; a start-up step waits longer for its connection than a
    # request's fail-fast ROOST_POSTGRES_CONNECT_TIMEOUT_S (a busy server missed 1 s)
    patient = settings.model_copy(update={"postgres_connect_timeout_s": max(
        settings.postgres_connect_timeout_s, MIGRATION_CONNECT_TIMEOUT_S)})
    store = PostgresEventStore(patient)
    store.close()
    schema = migration_sql()
    digest = hashlib.sha256(schema.encode()).hexdigest()
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        if _applied(conn, digest):
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (AdvisoryLock.MIGRATION.value,))
            # Under the lock: two processes creating it at once on a new database
            # collide in pg_type even with IF NOT EXISTS.
            conn.execute(_APPLIED_TABLE)
            if _applied(conn, digest):
                return
            conn.execute(schema_sql().encode())
            migrate_copies(conn)
            conn.execute("INSERT INTO schema_applied (sha256) VALUES (%s) ON CONFLICT DO NOTHING",
                         (digest,))


_APPLIED_TABLE = ("CREATE TABLE IF NOT EXISTS schema_applied ("
                  "sha256 text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")


def _applied(conn: psycopg.Connection[TupleRow], digest: str) -> bool:
    """Whether the schema of ``digest`` was applied (``False`` before any was: no
    ``schema_applied`` table yet)."""
    row = conn.execute("SELECT to_regclass('schema_applied')").fetchone()
    if row is None or row[0] is None:
        return False
    return conn.execute("SELECT 1 FROM schema_applied WHERE sha256 = %s",
                        (digest,)).fetchone() is not None
