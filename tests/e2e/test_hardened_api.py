"""Idempotency keys and rate limits on the real stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from infra import devstack
from tests.e2e.conftest import User, position, unique_name
from tests.e2e.stack import Stack


def store_position(stack: Stack) -> int:
    with psycopg.connect(stack.settings.postgres_conninfo) as conn:
        row = conn.execute("SELECT COALESCE(MAX(notification_id), 0) FROM roost_events")\
            .fetchone()
    return int(row[0]) if row else 0


def test_idempotency_key_replays_and_appends_nothing(
    signup: Callable[..., User], stack: Stack
) -> None:
    user = signup("idem")
    key = {"Idempotency-Key": unique_name("key")}
    first = user.request("POST", "/api/posts", json={"text": "once"}, headers=key)
    assert first.status_code == 201
    before = store_position(stack)
    again = user.request("POST", "/api/posts", json={"text": "once"}, headers=key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert position(again) == position(first)
    assert again.headers.get("Idempotency-Replayed") == "true"
    changed = user.request("POST", "/api/posts", json={"text": "twice"}, headers=key)
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert store_position(stack) == before
    other = signup("idem")  # keys are per account
    theirs = other.request("POST", "/api/posts", json={"text": "once"}, headers=key)
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_sign_up_idempotency_is_per_client_address(client: httpx.Client, stack: Stack) -> None:
    name = unique_name("su")
    body = {"username": name, "email": f"{name}@example.com", "password": "long enough"}
    key = {"Idempotency-Key": unique_name("key")}
    first = client.post("/api/accounts", json=body, headers=key)
    before = store_position(stack)
    again = client.post("/api/accounts", json=body, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert store_position(stack) == before


@pytest.fixture
def strict_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second API process on the same database with production-like small limits
    (and rate-limit buckets of its own, apart from the suite's lenient API)."""
    settings = stack.settings.model_copy(update={
        "api_port": devstack.free_port(), "rate_limit_multiplier": 1.0,
        "redis_prefix": f"{stack.settings.redis_prefix}strict-{unique_name('api')}:",
        "rate_limit_posts": "3/3600", "rate_limit_signups": "2/1800",
        "rate_limit_login_failures": "3/900",
    })
    limited = Stack(settings, tmp_path_factory.mktemp("strict"))
    limited.start("api")
    try:
        limited.wait_healthy(path="/api/rate_limits")  # no worker beats under its prefix
        yield limited.base_url
    finally:
        limited.stop_all()


def test_rate_limits_answer_429_with_retry_after(
    strict_api: str, signup: Callable[..., User], stack: Stack
) -> None:
    user = signup("rl")
    with httpx.Client(base_url=strict_api, timeout=30) as client:
        limits = client.get("/api/rate_limits").json()
        assert {"action": "posts", "limit": 3, "window_s": 3600, "scope": "account"} in limits
        answers = [client.post("/api/posts", json={"text": f"n{n}"}, headers=user.auth)
                   for n in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
        refused = answers[3]
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.json()["error"]["details"]["action"] == "posts"
        before = store_position(stack)
        assert client.post("/api/posts", json={"text": "x"}, headers=user.auth)\
            .status_code == 429
        assert store_position(stack) == before
        signups = []
        for _ in range(3):
            name = unique_name("rs")
            signups.append(client.post("/api/accounts", json={
                "username": name, "email": f"{name}@example.com", "password": "long enough"}))
        assert [s.status_code for s in signups] == [201, 201, 429]


def test_failed_logins_are_slowed_per_login_from_an_address(
        strict_api: str, signup: Callable[..., User]) -> None:
    user = signup("lf")
    with httpx.Client(base_url=strict_api, timeout=30) as client:
        wrong = [client.post("/api/sessions", json={"login": user.username,
                                                    "password": "not it at all"})
                 for _ in range(4)]
        assert [w.status_code for w in wrong] == [401, 401, 401, 429]
        assert int(wrong[-1].headers["Retry-After"]) > 0
        # X-Forwarded-For names no other address unless ROOST_TRUST_FORWARDED_FOR is
        # set (uvicorn's own proxy headers, which trust it from 127.0.0.1, are off)
        forged = client.post("/api/sessions", headers={"X-Forwarded-For": "10.9.8.7"},
                             json={"login": user.username, "password": "not it at all"})
        assert forged.status_code == 429, forged.text
        # Even the right password waits now, from this address: the name is being
        # guessed at from here.
        right = client.post("/api/sessions", json={"login": user.username,
                                                   "password": user.password})
        assert right.status_code == 429


def test_health_names_a_missing_worker(strict_api: str) -> None:
    """The strict API's Redis prefix has no worker heartbeat: 503 naming the worker."""
    with httpx.Client(base_url=strict_api, timeout=30) as client:
        health = client.get("/health")
    assert health.status_code == 503
    # its prefix has no worker nor relay heartbeat (nor projected timelines)
    assert {"worker", "relay"} <= set(health.json()["failing"])
    assert health.json()["checks"]["postgres"] == "ok"
