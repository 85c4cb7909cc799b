"""The home timeline's hot path (``infra.http.hot_home``) answers exactly as the FastAPI
route does: the same requests sent to an app with it and to one without it get the same
status, body and headers (but the rate-limit counts, which both spend), and it takes
only the requests it may answer. (The hot path's refusals -- a revoked session, a
suspended account, a spent budget -- and its round trips are in
``test_request_round_trips.py``, which runs with and without it.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import jwt
import pytest

from commands.messages import SetFollow
from infra.bootstrap import build_command_bus, build_projections, close_command_bus
from infra.http import hot_home
from infra.http.app import create_app
from infra.security import JwtTokens
from infra.settings import Settings
from queries.timelines import home_timeline
from tests.conftest import REDIS_CLUSTER
from tests.integration.apphost import running_app
from tests.integration.conftest import signup
from tests.integration.pipeline import post, project_everything

HOME = "/api/timelines/home"
VARYING = {"x-ratelimit-remaining", "x-ratelimit-reset", "date", "content-length"}
"""What two answers to the same request may differ in: both apps spend one budget."""


@pytest.fixture
async def reader(settings_factory: Callable[..., Settings]
                 ) -> AsyncIterator[tuple[Settings, str]]:
    """Settings and a token of a reader following an author of 7 posts, projected."""
    settings = settings_factory(celebrity_threshold=1000)
    bus = build_command_bus(settings)
    try:
        reader, author = signup(bus, "reader"), signup(bus, "author")
        bus.handle(SetFollow(actor=reader, username=author.username, active=True))
        for n in range(7):
            post(bus, author, f"post {n}")
        services = await build_projections(settings)
        try:
            await project_everything(services)
        finally:
            await services.close()
        yield settings, JwtTokens(settings).access_token(
            reader.account_id, reader.username, reader.session_id)
    finally:
        close_command_bus(bus)


def _expired(settings: Settings, token: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 60
    return jwt.encode(claims, settings.token_secret, algorithm="HS256")


def requests_of(token: str, expired: str, cursor: str) -> list[tuple[str, str, dict[str, str]]]:
    """``(method, path, headers)``: plain pages, and what the FastAPI route must answer."""
    bearer = {"Authorization": f"Bearer {token}"}
    return [
        ("GET", HOME, bearer),
        ("GET", f"{HOME}?limit=3", bearer),
        ("GET", f"{HOME}?limit=3&cursor={cursor}", bearer),
        ("GET", f"{HOME}?limit=500", bearer),
        ("GET", f"{HOME}?limit=2&limit=4", bearer),
        ("GET", f"{HOME}?limit=3&other=1", bearer),
        ("HEAD", f"{HOME}?limit=3", bearer),
        ("GET", f"{HOME}?limit=0", bearer),
        ("GET", f"{HOME}?limit=%2B5", bearer),
        ("GET", f"{HOME}?limit=", bearer),
        ("GET", f"{HOME}?cursor=", bearer),
        ("GET", f"{HOME}?cursor=not-a-cursor", bearer),
        ("GET", f"{HOME}?cursor=%01", bearer),
        ("GET", f"{HOME}?cursor=" + "A" * 201, bearer),
        ("GET", f"{HOME}?limit=3", {**bearer, "Roost-Min-Position": "0"}),
        ("GET", f"{HOME}?limit=3", {**bearer, "Roost-Min-Position": "x"}),
        ("GET", f"{HOME}?limit=3", {"Authorization": f"bearer   {token}  "}),
        ("GET", f"{HOME}?limit=3", {"Authorization": f"Basic {token}"}),
        ("GET", f"{HOME}?limit=3", {"Authorization": "Bearer"}),
        ("GET", f"{HOME}?limit=3", {"Authorization": f"Bearer {token}x"}),
        ("GET", f"{HOME}?limit=3", {"Authorization": f"Bearer {expired}"}),
        ("GET", f"{HOME}?limit=3", {}),
        ("POST", HOME, bearer),
        ("GET", f"{HOME}/", bearer),
    ]


async def test_both_paths_answer_alike(reader: tuple[Settings, str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings, token = reader
    taken = _count_hot_reads(monkeypatch)
    async with running_app(settings) as hot, running_app(
            settings.model_copy(update={"api_hot_home": False})) as plain:
        first = (await plain.get(f"{HOME}?limit=3", headers={
            "Authorization": f"Bearer {token}"})).json()
        cases = requests_of(token, _expired(settings, token), first["next_cursor"])
        for method, path, headers in cases:
            one = await hot.request(method, path, headers=headers)
            other = await plain.request(method, path, headers=headers)
            assert (one.status_code, one.content) == (other.status_code, other.content), \
                (method, path, headers, one.text, other.text)
            assert {k: v for k, v in one.headers.items() if k not in VARYING} == \
                {k: v for k, v in other.headers.items() if k not in VARYING}, (method, path)
    assert first["items"] and first["next_cursor"]
    # the hot path answered the first nine cases (an empty or unknown cursor passes
    # the parameter's rules: the query refuses it, on either path) and the padded
    # token, and nothing the FastAPI route must answer
    assert len(taken) == 10, taken


async def test_a_disabled_hot_path_takes_nothing(reader: tuple[Settings, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings, token = reader
    taken: list[object] = []
    monkeypatch.setattr(hot_home.HotHomeRoute, "handle", lambda *a: taken.append(a))
    async with running_app(settings.model_copy(update={"api_hot_home": False})) as plain:
        answer = await plain.get(HOME, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["items"]
    assert taken == []


def test_the_hot_route_is_first_and_only_when_enabled(settings: Settings) -> None:
    routes = create_app(settings).router.routes
    assert isinstance(routes[0], hot_home.HotHomeRoute)
    off = create_app(settings.model_copy(update={"api_hot_home": False})).router.routes
    assert not [r for r in off if isinstance(r, hot_home.HotHomeRoute)]


async def test_under_a_root_path_both_paths_answer_alike(reader: tuple[Settings, str],
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Behind a proxy that mounts the API below a prefix (``root_path``), the hot path
    matches what FastAPI matches: the path below the prefix."""
    settings, token = reader
    taken = _count_hot_reads(monkeypatch)
    answers = []
    for hot in (True, False):
        app = create_app(settings.model_copy(update={"api_hot_home": hot}))
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000),
                                        root_path="/social")
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://roost.test") as client:
            for path in (f"/social{HOME}?limit=2", f"{HOME}?limit=2"):
                answer = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                answers.append((hot, path, answer.status_code, answer.content))
    assert [a[1:] for a in answers[:2]] == [a[1:] for a in answers[2:]], answers
    assert [a[2] for a in answers] == [200] * 4  # (a path outside it is taken as it is)
    assert len(taken) == 2


async def test_dependency_overrides_send_every_read_to_the_fastapi_route(
        reader: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.http import deps

    settings, token = reader
    taken = _count_hot_reads(monkeypatch)
    app = create_app(settings)
    app.dependency_overrides[deps._limit] = lambda: 1
    async with running_app(settings, app) as client:
        answer = await client.get(f"{HOME}?limit=5",
                                  headers={"Authorization": f"Bearer {token}"})
    assert len(answer.json()["items"]) == 1 and taken == []


def test_url_for_finds_the_fastapi_route(settings: Settings) -> None:
    assert create_app(settings).url_path_for("home") == HOME


@pytest.mark.skipif(REDIS_CLUSTER, reason="on a Redis Cluster the charge does not ride "
                    "along: it is made before the read, and there is no judging to cancel")
@pytest.mark.parametrize("hot", [True, False], ids=["hot_home", "fastapi_home"])
async def test_a_read_cancelled_while_its_charge_is_judged_is_charged_and_unanswered(
        reader: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch, hot: bool) -> None:
    """Cancelled (anyio) while the charge, which never boarded a pipeline, is sent
    alone: the shielded judgement completes (charged once), and nothing is answered,
    on either path."""
    from infra.ride_along import arrive as real_arrive

    settings, token = reader
    scope = anyio.CancelScope()
    judging = {"cancel": False}

    async def cancelled_meanwhile(rider: Any) -> Any:
        if judging["cancel"]:
            scope.cancel()
        return await real_arrive(rider)

    async def no_redis(*args: Any) -> Any:  # the charge never rides: sent alone
        return {"items": [], "next_cursor": None}

    monkeypatch.setattr("infra.http.ratelimit.arrive", cancelled_meanwhile)
    for route in ("infra.http.routes.timelines", "infra.http.hot_home"):
        monkeypatch.setattr(f"{route}.home_timeline", no_redis)
    bearer = {"Authorization": f"Bearer {token}"}
    async with running_app(settings.model_copy(update={
            "api_hot_home": hot, "rate_limit_multiplier": 1.0,
            "rate_limit_requests": "1000/1000000"})) as client:
        before = int((await client.get(HOME, headers=bearer)).headers["X-RateLimit-Remaining"])
        judging["cancel"] = True
        answered = []
        with scope:
            answered.append(await client.get(HOME, headers=bearer))
        judging["cancel"] = False
        after = int((await client.get(HOME, headers=bearer)).headers["X-RateLimit-Remaining"])
    assert answered == [] and scope.cancelled_caught
    assert before - after == 2  # the cancelled read, and this last one


def _count_hot_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pages the hot path reads from now on (its ``home_timeline`` calls)."""
    taken: list[object] = []

    async def counted(*args: Any) -> Any:
        taken.append(args[2:])
        return await home_timeline(*args)

    monkeypatch.setattr("infra.http.hot_home.home_timeline", counted)
    return taken
