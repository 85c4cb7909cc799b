"""All configuration, read once from ``ROOST_*`` environment variables.

Defaults point at the local development servers so that ``make up`` and the
test suite need no configuration; production changes URLs only.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_TOKEN_SECRET = "roost-development-secret-change-me-0123456789"  # noqa: S105


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and
    ``taskset`` narrow), else ``os.cpu_count()``; at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Settings(BaseSettings):
    """Roost's settings; every field maps to ``ROOST_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ROOST_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"

    # PostgreSQL: the event store and the read models.
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: str = ""
    postgres_dbname: str = "roost"
    postgres_pool_size: int = 10
    # How long a write waits for an event-store connection (whole seconds, as
    # eventsourcing reads it) before answering 503 + Retry-After: fail fast
    # while PostgreSQL is down rather than hang.
    postgres_connect_timeout_s: int = Field(default=1, ge=1, le=60)
    # How long a read (or a projector) waits for a pooled connection before
    # giving up: 503 + Retry-After at the API, a retry with backoff in a worker.
    postgres_pool_timeout_s: float = Field(default=2.0, gt=0, le=120)
    # Group commit (infra/group_commit.py): the commands' appends that arrive while
    # one is committing share the next event-store transaction, at most this many
    # commands' events in one; 1 turns it off (one transaction per command).
    group_commit_max_writes: int = Field(default=256, ge=1, le=10_000)
    # `roost events` reads here when set: a read replica's DSN (libpq URL or key=value);
    # empty: the event store's own database.
    events_replica_url: str = ""

    # Redis: timelines, counters, rate limits, revoked sessions.
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "roost:"
    # True: ``redis_url`` names one node of a Redis Cluster and every client is
    # redis-py's cluster client (infra/redis_clients.py; docs/operations.md).
    redis_cluster: bool = False
    # A process's async client: at most this many connections, and a command that
    # finds them all in use waits this long for one (then ConnectionError: 503 at the
    # API, a retry in a worker). redis-py's own pool raises at once when exhausted.
    redis_max_connections: int = Field(default=200, ge=1, le=100_000)
    redis_pool_timeout_s: float = Field(default=2.0, gt=0, le=120)

    # Kafka-compatible broker and Elasticsearch-compatible server. ``roost up``
    # starts the local dev server for them unless both ROOST_KAFKA_BOOTSTRAP and
    # ROOST_ELASTICSEARCH_URL are set in the environment.
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_topic: str = "roost.events"
    # Partitions of the event topic, fixed when the relay creates it: an aggregate's
    # events go to infra.kafka.partition_for(aggregate id, this). A topic found with
    # another count stops the relay (adding partitions moves keys: docs/operations.md).
    kafka_partitions: int = Field(default=1, ge=1, le=10_000)
    # Consumers wait this long after an empty fetch the broker answered at once
    # (noida-db does; Kafka long-polls instead, and is unaffected). 0: off.
    kafka_empty_fetch_pause_ms: float = Field(default=20.0, ge=0, le=1000)
    elasticsearch_url: str = "http://127.0.0.1:19200"
    devserver_data_dir: str = ".roost/noida"
    # "start": roost up starts noida-db on the ports those two URLs name even when both
    # are set (a second checkout's own dev server); "auto": only when one is unset.
    devserver: Literal["auto", "start"] = "auto"

    # Search (infra/search_schema.py). Index names start with the prefix, so that
    # instances (and test runs) can share a cluster: lower-case, no spaces or : \ / * ? " < > |.
    elasticsearch_prefix: str = Field(default="", pattern=r"^[a-z0-9][a-z0-9_.-]{0,60}$|^$")
    elasticsearch_request_timeout_s: float = Field(default=5.0, gt=0, le=600)
    # The index generation the worker writes (roost-posts-v<N>); a new mapping or
    # stemmer is a new generation, built beside the old one (docs/operations.md).
    search_index_generation: int = Field(default=1, ge=1, le=9999)
    # The stemmer of text.stemmed, one of infra.search_schema.STEMMERS.
    search_stemmer: str = "light_english"
    # Relevance halves for every HALF_LIFE_DAYS of a post's age.
    search_half_life_days: float = Field(default=7.0, gt=0, le=3650)
    # How long renaming an author's posts (update_by_query) may take.
    search_rename_timeout_s: float = Field(default=300.0, gt=0)

    # Trending tags (queries/trends.py): a tag needs this many distinct authors in
    # the window; a post of an account younger than NEW_ACCOUNT_DAYS weighs less.
    trends_min_authors: int = Field(default=5, ge=1)
    trends_new_account_days: float = Field(default=30.0, gt=0)
    # How long a computed /api/trends/tags answer is served to every reader (in
    # Redis, one per window); 0 computes each request.
    trends_cache_s: float = Field(default=10.0, ge=0, le=3600)

    # HTTP.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # `roost api` runs this many processes on that one port (infra/api_processes.py);
    # default: the cores this process may run on. Each takes a Snowflake node id of
    # its own, NODE_ID + 0 .. NODE_ID + API_WORKERS (one spare, for a rolling restart).
    api_workers: int = Field(default_factory=usable_cores, ge=1, le=256)
    # GET /api/timelines/home's plain pages without FastAPI's per-request machinery
    # (infra/http/hot_home.py); false sends every home read through the FastAPI route.
    api_hot_home: bool = True
    max_body_bytes: int = 64 * 1024
    min_position_wait_s: float = 5.0
    # How long a write's answer waits for the read models to include the write
    # (for its counts) before answering from the command's own result with
    # Roost-Stale: short, so a lagging worker never holds writes for long.
    write_answer_wait_s: float = Field(default=1.0, ge=0, le=60)

    # Identity.
    node_id: int = Field(default=0, ge=0, le=1023)
    token_secret: str = DEV_TOKEN_SECRET
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    # Timelines.
    celebrity_threshold: int = 10_000
    active_days: float = 7.0
    timeline_max_entries: int = 800
    follow_backfill: int = 100
    fanout_batch: int = 1000

    # Notifications (docs/architecture.md, "Notifications"). Each account keeps at
    # most MAX_GROUPS groups (the oldest go); Redis holds its newest HOT_GROUPS
    # (first pages up to that size are answered without PostgreSQL) for
    # ROOST_ACTIVE_DAYS after the last change.
    notifications_max_groups: int = Field(default=1000, ge=1)
    notifications_hot_groups: int = Field(default=20, ge=0, le=100)

    # Projection workers. A per-process consumer group survives brokers that never
    # expire a crashed member (noida-db); projectors catch up from the event
    # store, so Kafka offsets are an optimisation, not the record. Production
    # Kafka: leave unset (a stable group) so partitions spread over workers.
    worker_group: str = "roost-projections"
    worker_group_per_process: bool | None = None
    sweep_interval_s: float = 2.0
    projector_max_attempts: int = 5
    projector_backoff_s: float = 0.2
    # How long a crashed worker's projector lease blocks the others (renewed while held).
    projector_lease_ttl_s: float = Field(default=5.0, gt=0.1)
    relay_batch: int = 500
    relay_poll_s: float = 0.2
    # Blue-green rebuilds (roost projections rebuild / verify, and a worker that finds
    # a projection's code version bumped): events read per page by position, and
    # applied per transaction of the new copy.
    rebuild_page: int = Field(default=5000, ge=1)
    rebuild_batch: int = Field(default=1000, ge=1)
    # Rebuild on start a projection whose VERSION in code is above its live copy's.
    rebuild_on_version_bump: bool = True
    # A Redis projection's old copy is unlinked this long after the switch: reads that
    # found it live just before (a home read that rebuilds a timeline waits up to
    # MIN_POSITION_WAIT_S) finish on it first.
    rebuild_retire_grace_s: float = Field(default=15.0, ge=0)

    # /health (docs/operations.md). A projector or the relay is failing when it has
    # not advanced for STALL_S seconds while more than LAG_EVENTS events wait; the
    # worker when a projection loop has made no progress (nor found the log
    # applied) for WORKER_SILENCE_S seconds, or no worker reported within TTL_S.
    health_max_projection_lag_events: int = Field(default=0, ge=0)
    health_max_projection_stall_s: float = Field(default=30.0, gt=0)
    health_max_worker_silence_s: float = Field(default=15.0, gt=0)
    # The worker and the relay write a heartbeat every INTERVAL_S that expires after
    # TTL_S: a part killed outright shows in /health within TTL_S.
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    heartbeat_ttl_s: float = Field(default=5.0, gt=0)

    # `roost up`: a part exiting this many times within the window stops everything.
    up_max_restarts: int = Field(default=5, ge=1)
    up_restart_window_s: float = Field(default=60.0, gt=0)
    up_restart_backoff_s: float = Field(default=0.5, gt=0)  # doubles per recent exit

    # --- Rate limits (infra/rate_limiter.py) --------------------------------------
    # "<count>/<seconds>" per action, ROOST_RATE_LIMIT_<ACTION>. Counted per
    # account; the *_IP ones per client address; logins and signups per address
    # only; login_failures per login name from an address. Production defaults,
    # Mastodon-like.
    rate_limit_requests: str = Field(
        default="300/300", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_requests_ip: str = Field(
        default="7500/300", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_posts: str = Field(
        default="300/10800", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_posts_ip: str = Field(
        default="1500/10800", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    # Image uploads (POST /api/media): Mastodon allows 30 per 30 minutes per account.
    rate_limit_media: str = Field(
        default="30/1800", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_media_ip: str = Field(
        default="150/1800", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_follows: str = Field(
        default="400/86400", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_follows_ip: str = Field(
        default="2000/86400", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_likes: str = Field(
        default="1000/86400", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_likes_ip: str = Field(
        default="5000/86400", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_reposts: str = Field(
        default="1000/86400", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_reposts_ip: str = Field(
        default="5000/86400", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_logins: str = Field(
        default="30/300", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_signups: str = Field(
        default="5/1800", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_login_failures: str = Field(
        default="10/900", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    rate_limit_login_failures_ip: str = Field(
        default="50/900", pattern=r"^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}$")
    # Scales every count; `make up` runs with 10 (ROOST_RATE_LIMIT_MULTIPLIER).
    rate_limit_multiplier: float = Field(default=1.0, gt=0, le=1_000_000)
    # Take the client address from X-Forwarded-For: only behind a proxy you run.
    trust_forwarded_for: bool = False
    # --- end of rate limits ------------------------------------------------------

    # Browser origins allowed to call the API from another origin (CORS): a comma-
    # separated list of "https://app.example.org"-style origins, or "*" for any.
    # Empty (the default): no CORS headers, a preflight is 405 (same-origin clients only).
    cors_origins: str = ""

    # Live streams (Server-Sent Events, infra/live.py). Each followed channel keeps a
    # replay buffer of about LIVE_BUFFER events in Redis, alive while a client follows
    # it and for LIVE_TTL_S after (the window to resume in). Each connection buffers at
    # most LIVE_QUEUE events; a client further behind is disconnected (too_slow).
    live_buffer: int = Field(default=1000, ge=1, le=1_000_000)
    live_ttl_s: int = Field(default=600, ge=1)
    live_queue: int = Field(default=1000, ge=1, le=1_000_000)
    live_keepalive_s: float = Field(default=15.0, gt=0, le=15.0)
    live_send_timeout_s: float = Field(default=30.0, gt=0)
    live_max_streams_per_account: int = Field(default=8, ge=1)
    # A stream asks whether its session still holds (not logged out, the account not
    # suspended) before sending each batch and every LIVE_SESSION_RECHECK_S idle seconds;
    # when it does not, the stream sends `disconnect` (session_ended/account_suspended).
    live_session_recheck_s: float = Field(default=5.0, gt=0, le=60.0)

    # The admin events stream (GET /api/admin/events/stream): once caught up it reads
    # the event store again every ADMIN_STREAM_POLL_S seconds, sends an empty line
    # after ADMIN_STREAM_KEEPALIVE_S idle seconds, and checks every
    # ADMIN_ROLE_RECHECK_S seconds that its account is still an admin.
    admin_stream_poll_s: float = Field(default=0.5, gt=0, le=10.0)
    admin_stream_keepalive_s: float = Field(default=15.0, gt=0, le=15.0)
    admin_role_recheck_s: float = Field(default=5.0, gt=0, le=60.0)
    # Media (docs/operations.md, "Media"). The filesystem store under MEDIA_DIR unless
    # MEDIA_S3_BUCKET is set (any S3-compatible service: MEDIA_S3_ENDPOINT_URL for one
    # that is not AWS; without keys boto3 finds its own credentials). MEDIA_BASE_URL:
    # media URLs point at <base>/<key> (the bucket or a CDN) instead of the API.
    media_dir: str = ".roost/media"
    media_s3_bucket: str = ""
    media_s3_endpoint_url: str | None = None
    media_s3_region: str | None = None
    media_s3_access_key_id: str | None = None
    media_s3_secret_access_key: str | None = None
    media_s3_prefix: str = Field(default="", pattern=r"^$|^[A-Za-z0-9._-][A-Za-z0-9._/-]*/$")
    media_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # Image processing runs in this many processes beside each API process.
    media_workers: int = Field(default=1, ge=1, le=64)
    # At most this many uploads being processed or queued per API process; past it an
    # upload is 503 with Retry-After, nothing stored (each holds its bytes meanwhile).
    media_max_pending: int = Field(default=8, ge=1, le=10_000)
    # The processing processes' CPU class: idle (SCHED_IDLE: only cores nothing else
    # wants, so reads never wait behind processing) or nice (nice 10).
    media_worker_priority: Literal["idle", "nice"] = "idle"
    # An upload whose processing has not finished after this long is 503 overloaded
    # with Retry-After, nothing stored (busy cores leave a SCHED_IDLE pool no CPU).
    media_max_wait_s: float = Field(default=30.0, gt=0, le=600)
    # Start them when the API starts (else at the first upload that needs decoding).
    media_warm_up: bool = True
    media_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    media_max_pixels: int = Field(default=40_000_000, ge=1)
    # The sweeper (roost media sweep; the worker runs it every MEDIA_SWEEP_INTERVAL_S,
    # 0: never) keeps unattached media this much beyond their 24 hours, and never
    # removes an object written less than MEDIA_ORPHAN_GRACE_S ago.
    media_sweep_interval_s: float = Field(default=3600.0, ge=0)
    media_sweep_margin_s: float = Field(default=3600.0, ge=0)
    media_orphan_grace_s: float = Field(default=3600.0, ge=0)

    # Prometheus endpoints of the relay and worker processes (0: none); the API
    # serves its own at /metrics.
    relay_metrics_port: int = 9101
    worker_metrics_port: int = 9102

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        from infra.http.cors import parse_origins

        parse_origins(value)  # raises ValueError naming the entry that is no origin
        return value

    @field_validator("search_stemmer")
    @classmethod
    def _known_stemmer(cls, value: str) -> str:
        from infra.search_schema import STEMMERS

        if value not in STEMMERS:
            raise ValueError(f"must be one of {', '.join(STEMMERS)}")
        return value

    @model_validator(mode="after")
    def _refuse_dev_secret_outside_development(self) -> Settings:
        if self.environment != "development" and self.token_secret == DEV_TOKEN_SECRET:
            raise ValueError(
                "ROOST_TOKEN_SECRET must be set to a secret of your own "
                f"outside development (environment is {self.environment!r})"
            )
        if len(self.token_secret) < 32:
            raise ValueError("ROOST_TOKEN_SECRET must be at least 32 characters")
        return self

    def as_env(self) -> dict[str, str]:
        """These settings as ``ROOST_*`` variables, to hand to child processes."""
        return {
            f"ROOST_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in self.model_dump().items()
            if value is not None
        }

    @property
    def consumer_group_per_process(self) -> bool:
        if self.worker_group_per_process is not None:
            return self.worker_group_per_process
        return self.environment != "production"

    @property
    def postgres_conninfo(self) -> str:
        """A libpq connection string for psycopg."""
        parts = [
            f"host={self.postgres_host}",
            f"port={self.postgres_port}",
            f"user={self.postgres_user}",
            f"dbname={self.postgres_dbname}",
            f"connect_timeout={max(2, self.postgres_connect_timeout_s)}",  # libpq's minimum
        ]
        if self.postgres_password:
            parts.append(f"password={self.postgres_password}")
        return " ".join(parts)

    def eventsourcing_env(self) -> dict[str, str]:
        """The environment the ``eventsourcing`` library reads its store from."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.postgres_dbname,
            "POSTGRES_HOST": self.postgres_host,
            "POSTGRES_PORT": str(self.postgres_port),
            "POSTGRES_USER": self.postgres_user,
            "POSTGRES_PASSWORD": self.postgres_password,
            # eventsourcing's POOL_SIZE is the pool's minimum, opened at start, and its
            # overflow (10 by default) comes on top: two held, the rest on demand, so
            # the store never holds more than postgres_pool_size connections
            "POSTGRES_POOL_SIZE": str(min(EVENT_STORE_MIN_CONNECTIONS, self.postgres_pool_size)),
            "POSTGRES_MAX_OVERFLOW": str(max(0, self.postgres_pool_size
                                             - EVENT_STORE_MIN_CONNECTIONS)),
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_CONNECT_TIMEOUT": str(self.postgres_connect_timeout_s),
        }


EVENT_STORE_MIN_CONNECTIONS = 2
"""Connections the event store's pool opens at start and keeps (group commit needs few)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings``)."""
    return Settings()
