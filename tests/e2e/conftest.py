"""The e2e stack: real PostgreSQL, Redis, noida-db, and Roost's own processes."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from infra import devstack
from infra.database import drop_database, migrate
from infra.settings import Settings
from tests.conftest import clear_redis_prefix, clear_search_indices, make_settings
from tests.e2e.stack import PARTS, Stack
from tests.waiting import wait_until as wait_until  # the e2e and fault tiers import it here

pytestmark = pytest.mark.e2e
CELEBRITY_THRESHOLD = 3  # low, so tests can cross it both ways


def stack_settings(**overrides: object) -> Settings:
    """Settings of an e2e stack: its own database, Redis prefix, topic and API port."""
    return make_settings(**{
        "api_port": devstack.free_port(), "min_position_wait_s": 30.0,
        "kafka_topic": f"roost.events.{uuid.uuid4().hex[:8]}", "log_level": "INFO",
        "celebrity_threshold": CELEBRITY_THRESHOLD, "timeline_max_entries": 2000,
        **overrides,
    })


@contextlib.contextmanager
def running_stack(settings: Settings, log_dir: Path) -> Iterator[Stack]:
    """Migrate, start every part, wait until healthy; stop and clean up after."""
    migrate(settings)
    running = Stack(settings, log_dir)
    try:
        for part in PARTS:
            running.start(part)
        running.wait_healthy()
        yield running
    finally:
        running.stop_all()
        drop_database(settings)
        clear_redis_prefix(settings)
        clear_search_indices(settings)
        shutil.rmtree(settings.media_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(noida: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(stack_settings(**noida), tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        yield http


_serial = itertools.count()


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}{next(_serial)}"


class User:
    """A signed-up, logged-in account driving the API."""

    def __init__(self, client: httpx.Client, username: str, password: str) -> None:
        self.client = client
        self.username = username
        self.password = password
        self.token = ""
        self.id = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, method: str, path: str, min_position: int | None = None,
                **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        if min_position is not None:
            headers["Roost-Min-Position"] = str(min_position)
        return self.client.request(method, path, headers=headers, **kwargs)

    def post(self, text: str, **fields: Any) -> tuple[dict[str, Any], int]:
        response = self.request("POST", "/api/posts", json={"text": text, **fields})
        assert response.status_code == 201, response.text
        return response.json(), position(response)

    def act(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> httpx.Response:
        response = self.request(method, path, **kwargs)
        assert response.status_code == expect, response.text
        return response

    def follow(self, other: User) -> int:
        return position(self.act("POST", f"/api/accounts/{other.username}/follow"))

    def home(self, min_position: int | None = None, **params: Any) -> httpx.Response:
        return self.request("GET", "/api/timelines/home", min_position, params=params)

    def home_ids(self, min_position: int | None = None, limit: int = 100) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = self.home(min_position, **params)
            assert response.status_code == 200, response.text
            assert response.headers.get("Roost-Stale") is None
            body = response.json()
            ids += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                return ids


def position(response: httpx.Response) -> int:
    return int(response.headers["Roost-Position"])


@pytest.fixture
def signup(client: httpx.Client) -> Callable[..., User]:
    def make(prefix: str = "u", **extra: Any) -> User:
        username = unique_name(prefix)
        password = "correct horse battery"
        response = client.post("/api/accounts", json={
            "username": username, "email": f"{username}@example.com", "password": password,
            **extra,
        })
        assert response.status_code == 201, response.text
        user = User(client, username, password)
        user.id = response.json()["id"]
        login = client.post("/api/sessions", json={"login": username, "password": password})
        assert login.status_code == 200, login.text
        user.token = login.json()["access_token"]
        return user

    return make


def store_position(stack: Stack) -> int:
    with psycopg.connect(stack.settings.postgres_conninfo) as conn:
        row = conn.execute("SELECT COALESCE(MAX(notification_id), 0) FROM roost_events")\
            .fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def nothing_appended(stack: Stack) -> Iterator[None]:
    before = store_position(stack)
    yield
    assert store_position(stack) == before, "a refused request appended events"


def assert_error(response: httpx.Response, status: int, code: str | None = None,
                 field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["details"], dict) and error["message"]
    if code:
        assert error["code"] == code
    if field:
        assert field in error["details"]["fields"], error
    return dict(error)
