"""Fixtures shared by every tier: settings isolated per test run, real servers.

Each run gets its own PostgreSQL database, Redis key prefix and, when a test
needs Kafka or Elasticsearch, its own noida-db server on free ports, so runs
never see each other's data and nothing is left behind.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import devstack
from infra.database import drop_database, migrate
from infra.settings import Settings

TEST_SECRET = "test-secret-" + "x" * 40
REDIS_CLUSTER = os.environ.get("ROOST_TEST_REDIS_CLUSTER", "") not in ("", "0", "false")
"""``ROOST_TEST_REDIS_CLUSTER=1``: every test's Redis is a 3-master Redis Cluster this
session starts (``tests/redis_cluster.py``), not the shared server."""
_cluster_url: str | None = None


def make_settings(**overrides: object) -> Settings:
    run = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "environment": "test",
        "token_secret": TEST_SECRET,
        "postgres_dbname": f"roost_test_{run}",
        "redis_url": _cluster_url or os.environ.get("ROOST_TEST_REDIS_URL",
                                                    "redis://127.0.0.1:6379/0"),
        "redis_cluster": _cluster_url is not None,
        "redis_prefix": f"roost-test-{run}:",
        "elasticsearch_prefix": f"roost-test-{run}-",
        "media_dir": os.path.join(tempfile.gettempdir(), f"roost-test-media-{run}"),
        "media_warm_up": False,  # in-process apps would each spawn a processing process
        "api_workers": 1,  # one API process; tests/e2e/test_api_processes.py runs several
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        "projector_backoff_s": 0.01,
        "rate_limit_multiplier": 1000.0,
        "relay_metrics_port": 0,
        "worker_metrics_port": 0,  # suites are not throttled; limits have own tests
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """With ``ROOST_TEST_REDIS_CLUSTER=1``, a Redis Cluster for this session, which
    ``make_settings`` then names (its URL); otherwise nothing (``None``)."""
    global _cluster_url
    if not REDIS_CLUSTER:
        yield None
        return
    from tests.redis_cluster import start_cluster

    url, stop = start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    _cluster_url = url
    try:
        yield url
    finally:
        _cluster_url = None
        stop()


@pytest.fixture(scope="session")
def noida(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Kafka- and Elasticsearch-compatible server for this test session."""
    data_dir: Path = tmp_path_factory.mktemp("noida")
    kafka_port, es_port = devstack.free_port(), devstack.free_port()
    process = devstack.start_noida(data_dir, kafka_port, es_port, data_dir / "noida.log")
    try:
        yield {
            "kafka_bootstrap": f"127.0.0.1:{kafka_port}",
            "elasticsearch_url": f"http://127.0.0.1:{es_port}",
        }
    finally:
        devstack.stop(process)


def clear_redis_prefix(settings: Settings) -> None:
    """Remove every key of a test run's prefix."""
    from infra.redis_clients import build_sync_redis

    client = build_sync_redis(settings)
    try:
        keys = list(client.scan_iter(match=f"{settings.redis_prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.unlink(*keys[start:start + 500])
    finally:
        client.close()


def clear_search_indices(settings: Settings) -> None:
    """Delete a test run's search indices (those of its prefix), if its server answers."""
    import contextlib

    import httpx

    from infra.search_schema import SearchNames

    names = SearchNames(settings.elasticsearch_prefix, settings.search_index_generation)
    indices = ",".join((names.posts_index, names.accounts_index, names.state_index))
    with contextlib.suppress(httpx.HTTPError):
        httpx.delete(f"{settings.elasticsearch_url}/{indices}",
                     params={"ignore_unavailable": "true"}, timeout=5)


@pytest.fixture
def settings(noida: dict[str, str]) -> Iterator[Settings]:
    """Settings for one test: a fresh, migrated database and Redis prefix, and search
    indices of its own on the session's Elasticsearch-compatible server."""
    test_settings = make_settings(elasticsearch_url=noida["elasticsearch_url"])
    migrate(test_settings)
    try:
        yield test_settings
    finally:
        drop_database(test_settings)
        clear_redis_prefix(test_settings)
        clear_search_indices(test_settings)
