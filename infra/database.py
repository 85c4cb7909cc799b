"""PostgreSQL: creating the database, the async pool, and the schema."""

from __future__ import annotations

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from infra.event_store import PostgresEventStore
from infra.settings import Settings
from projections.read_models import schema_sql

AsyncPool = AsyncConnectionPool[AsyncConnection[TupleRow]]


def ensure_database(settings: Settings) -> None:
    """Create the configured database if the server does not have it yet."""
    admin = settings.model_copy(update={"postgres_dbname": "postgres"})
    with psycopg.connect(admin.postgres_conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_dbname,)
        ).fetchone()
        if not exists:
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


def migrate(settings: Settings) -> None:
    """Database, event table and read-model tables: everything Roost needs to start."""
    ensure_database(settings)
    store = PostgresEventStore(settings)  # creates the events table
    store.close()
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn, \
            conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7470001)")  # one migrator at a time
        conn.execute(schema_sql().encode())
