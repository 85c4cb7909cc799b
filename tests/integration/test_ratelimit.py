"""Rate limits against a real Redis, through a tiny FastAPI app using the dependency.

Each test has its own Redis prefix (so its own buckets) and removes its keys.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import redis.asyncio as aredis
from fastapi import Depends, FastAPI, Request, Response
from pydantic import ValidationError

from domain.errors import NotFound, Unauthorized
from infra.http.client_identity import client_address
from infra.http.errors import install_error_handlers
from infra.http.ratelimit import (
    RateLimitHeadersMiddleware,
    install_rate_limit_handler,
    login_attempt,
    rate_limit,
    request_charge,
)
from infra.http.routes import limits
from infra.rate_limiter import RateLimiter, Rule, login_identity, parse_rule
from infra.security import JwtTokens
from infra.settings import Settings
from tests.conftest import TEST_SECRET, make_settings
from tests.integration.conftest import _clear_redis_prefix, wait_until

# Roomy limits, so that a test only meets the one it is about; no multiplier.
ROOMY: dict[str, Any] = {f"rate_limit_{name}": "1000/60" for name in (
    "requests", "requests_ip", "posts", "posts_ip", "media", "media_ip", "follows",
    "follows_ip", "likes", "likes_ip", "reposts", "reposts_ip", "logins", "signups",
    "login_failures", "login_failures_ip")}
ROOMY["rate_limit_multiplier"] = 1.0


@pytest.fixture
def settings_for() -> Iterator[Callable[..., Settings]]:
    made: list[Settings] = []

    def factory(**overrides: Any) -> Settings:
        made.append(make_settings(**{**ROOMY, **overrides}))
        return made[-1]

    yield factory
    for settings in made:
        _clear_redis_prefix(settings)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ROOST_RATE_LIMIT_* from the caller's shell (``make up`` exports one)."""
    for name in list(os.environ):
        if name.startswith(("ROOST_RATE_LIMIT_", "ROOST_TRUST_FORWARDED_FOR")):
            monkeypatch.delenv(name)
    return monkeypatch


class Harness:
    """A small app using the dependency the way the real routes will."""

    def __init__(self, settings: Settings, redis: aredis.Redis) -> None:
        self.settings = settings
        self.tokens = JwtTokens(settings)
        self.calls: Counter[str] = Counter()
        self.app = app = FastAPI()
        install_error_handlers(app)
        install_rate_limit_handler(app)
        # The limiter is built on first use from the app's services, as in Roost.
        app.state.services = SimpleNamespace(settings=settings, redis=redis, tokens=self.tokens)
        requests = Depends(request_charge())  # as every /api route has it

        @app.post("/posts", dependencies=[requests, Depends(rate_limit("posts"))])
        async def post() -> dict[str, int]:
            self.calls["posts"] += 1
            return {"n": self.calls["posts"]}

        @app.post("/likes", dependencies=[requests, Depends(rate_limit("likes"))])
        async def like() -> Response:  # a route answering a Response of its own
            self.calls["likes"] += 1
            return Response(status_code=204)

        @app.post("/twice", dependencies=[requests, Depends(rate_limit("requests"))])
        async def twice() -> dict[str, bool]:
            return {"ok": True}

        @app.post("/missing", dependencies=[requests])
        async def missing() -> None:
            raise NotFound("no such thing")

        @app.post("/accounts", dependencies=[Depends(rate_limit("signups"))])
        async def sign_up() -> dict[str, bool]:
            self.calls["signups"] += 1
            return {"ok": True}

        @app.post("/sessions", dependencies=[Depends(rate_limit("logins"))])
        async def login(request: Request, body: dict[str, str]) -> dict[str, bool]:
            async with login_attempt(request, body["login"]):
                self.calls["logins"] += 1
                if body["password"] != "right":
                    raise Unauthorized("login or password is incorrect",
                                       code="invalid_credentials")
            return {"ok": True}

        app.include_router(limits.router)
        app.add_middleware(RateLimitHeadersMiddleware)

    @property
    def limiter(self) -> RateLimiter:
        limiter: RateLimiter = self.app.state.rate_limiter
        return limiter

    def client(self, ip: str = "10.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://roost.test")

    def auth(self, account_id: int) -> dict[str, str]:
        token = self.tokens.access_token(account_id, f"user{account_id}", uuid.uuid4().hex)
        return {"Authorization": f"Bearer {token}"}


def limit_headers(response: httpx.Response) -> tuple[str, str, str]:
    return (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"],
            response.headers["X-RateLimit-Reset"])


def assert_limited(response: httpx.Response, action: str, scope: str, retry: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == str(retry)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.json() == {"error": {
        "code": "rate_limited", "message": response.json()["error"]["message"],
        "details": {"action": action, "scope": scope, "retry_after_s": retry}}}


async def test_account_limit_refuses_exactly_past_the_boundary(settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_posts="3/60"), redis_client)
    alice, bob = harness.auth(1), harness.auth(2)
    async with harness.client() as client:
        for k in (1, 2, 3):  # one unit comes back every 20 s, the bucket is full after 20*k
            ok = await client.post("/posts", headers=alice)
            assert ok.status_code == 200
            assert limit_headers(ok) == ("3", str(3 - k), str(20 * k))
        refused = await client.post("/posts", headers=alice)
        assert_limited(refused, "posts", "account", 20)
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert harness.calls["posts"] == 3

        other = await client.post("/posts", headers=bob)  # same address, own account bucket
        assert other.status_code == 200
        assert limit_headers(other) == ("3", "2", "20")


async def test_address_limit_spans_accounts_and_charges_nothing_when_refused(
        settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_posts_ip="4/60"), redis_client)
    async with harness.client("10.0.0.1") as first, harness.client("10.0.0.2") as second:
        for account in (1, 2, 3, 4):
            assert (await first.post("/posts", headers=harness.auth(account))).status_code == 200
        refused = await first.post("/posts", headers=harness.auth(5))
        assert_limited(refused, "posts", "ip", 15)
        account_bucket = await harness.limiter.peek("posts", "account", "5")
        assert account_bucket.remaining == 1000  # the refusal cost account 5 nothing

        elsewhere = await second.post("/posts", headers=harness.auth(5))
        assert elsewhere.status_code == 200
        assert harness.calls["posts"] == 5


async def test_signups_are_per_address_and_ignore_tokens(settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_signups="2/1800"), redis_client)
    garbage = {"Authorization": "Bearer not-a-token"}
    async with harness.client("10.0.0.1") as first, harness.client("10.0.0.2") as second:
        assert (await first.post("/accounts", headers=garbage)).status_code == 200
        assert (await first.post("/accounts")).status_code == 200
        assert_limited(await first.post("/accounts"), "signups", "ip", 900)
        ok = await second.post("/accounts")
        assert ok.status_code == 200
        assert limit_headers(ok) == ("2", "1", "900")
    assert harness.calls["signups"] == 3


async def test_bucket_refills_after_the_window(settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_likes="2/1"), redis_client)
    alice = harness.auth(7)
    async with harness.client() as client:
        for _ in range(2):
            assert (await client.post("/likes", headers=alice)).status_code == 204
        assert_limited(await client.post("/likes", headers=alice), "likes", "account", 1)

        async def refilled() -> bool:
            return (await harness.limiter.peek("likes", "account", "7")).remaining == 2

        await wait_until(refilled, timeout=5, message="the likes bucket to refill")
        for _ in range(2):
            assert (await client.post("/likes", headers=alice)).status_code == 204
        assert (await client.post("/likes", headers=alice)).status_code == 429
    assert harness.calls["likes"] == 4


async def test_headers_show_the_tightest_bucket_on_every_answer(settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_requests="10/60", rate_limit_likes="3/60"),
                      redis_client)
    alice = harness.auth(3)
    async with harness.client() as client:
        liked = await client.post("/likes", headers=alice)  # route returns a Response
        assert liked.status_code == 204
        assert limit_headers(liked) == ("3", "2", "20")
        missing = await client.post("/missing", headers=alice)  # an error answer
        assert missing.status_code == 404
        assert limit_headers(missing) == ("10", "8", "12")
        anonymous = await client.post("/missing")  # only the address bucket (1000/60)
        assert limit_headers(anonymous)[:2] == ("1000", "997")
        # An invalid token counts by address only; answering 401 is the route's job.
        bad_token = await client.post("/missing", headers={"Authorization": "Bearer nope"})
        assert bad_token.status_code == 404
        assert limit_headers(bad_token)[:2] == ("1000", "996")


async def test_login_failures_are_slowed_per_login_from_an_address_and_per_address(
        settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_login_failures="3/900",
                                   rate_limit_login_failures_ip="5/900"), redis_client)
    async with harness.client("10.0.0.1") as first, harness.client("10.0.0.2") as second:
        for left in (2, 1, 0):  # each failure's answer says how many are left
            wrong = await first.post("/sessions", json={"login": "Alice", "password": "x"})
            assert wrong.status_code == 401
            assert limit_headers(wrong)[:2] == ("3", str(left)), wrong.headers
        # The name is case-insensitive; from that address even the right password waits,
        blocked = await first.post("/sessions", json={"login": " alice", "password": "right"})
        assert_limited(blocked, "login_failures", "account", 300)
        # ... but the failures piled up there do not lock the owner out elsewhere.
        owner = await second.post("/sessions", json={"login": "ALICE", "password": "right"})
        assert owner.status_code == 200

        for _ in range(2):  # five failures from 10.0.0.1 in all
            assert (await first.post("/sessions", json={"login": "bob", "password": "x"})
                    ).status_code == 401
        assert_limited(await first.post("/sessions", json={"login": "carol", "password": "right"}),
                       "login_failures", "ip", 180)

        for _ in range(2):
            assert (await second.post("/sessions", json={"login": "erin", "password": "x"})
                    ).status_code == 401
        assert (await second.post("/sessions", json={"login": "erin", "password": "right"})
                ).status_code == 200
    assert harness.calls["logins"] == 3 + 1 + 2 + 3
    erin = await harness.limiter.peek("login_failures", "account",
                                      login_identity("erin", "10.0.0.2"))
    assert erin.remaining == 3  # a success forgets the name's failures from there
    address = await harness.limiter.peek("login_failures", "ip", "10.0.0.2")
    assert address.remaining == 3  # ... but not the address's
    alice = await harness.limiter.peek("login_failures", "account",
                                       login_identity("alice", "10.0.0.1"))
    assert alice.remaining == 0  # nor the name's failures from another address


def test_a_login_names_bucket_is_per_address_and_holds_no_email():
    assert login_identity("Bob@Example.com ", "10.0.0.1") \
        == login_identity("bob@example.com", "10.0.0.1")
    assert login_identity("bob@example.com", "10.0.0.1") \
        != login_identity("bob@example.com", "10.0.0.2")
    assert "example" not in login_identity("bob@example.com", "10.0.0.1")
    # every spelling of an email that logs in to its account is one name (full-width
    # letters, an ideographic full stop): not a fresh budget each
    for spelling in ("bob@\uff45xample.com", "bob@example\u3002com",
                     "BOB@EXAMPLE.\uff23\uff2f\uff2d"):
        assert login_identity(spelling, "10.0.0.1") \
            == login_identity("bob@example.com", "10.0.0.1"), spelling
    assert login_identity("not an email@", "10.0.0.1")  # unparsable: counted as sent
    # No (name, address) pair can be written as another: the separator is a NUL.
    assert login_identity("a", "1.2.3.4") != login_identity("a\x001.2", "3.4")


async def test_rate_limits_route_lists_the_rules_in_force(settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_posts="300/10800", rate_limit_signups="5/1800",
                                   rate_limit_multiplier=0.5), redis_client)
    async with harness.client() as client:
        answer = await client.get("/api/rate_limits")
    assert answer.status_code == 200
    rules = answer.json()
    assert {"action": "posts", "limit": 150, "window_s": 10800, "scope": "account"} in rules
    assert {"action": "signups", "limit": 2, "window_s": 1800, "scope": "ip"} in rules
    assert not [r for r in rules if r["action"] == "signups" and r["scope"] == "account"]
    assert len(rules) == 16


def test_production_defaults_and_the_development_multiplier(clean_env):
    production = Settings(environment="production", token_secret=TEST_SECRET)
    assert production.rate_limit_multiplier == 1.0
    rules = RateLimiter(aredis.Redis(), production).rules
    assert rules["requests", "account"] == Rule("requests", "account", 300, 300)
    assert rules["signups", "ip"] == Rule("signups", "ip", 5, 1800)
    assert rules["logins", "ip"] == Rule("logins", "ip", 30, 300)
    assert rules["posts", "account"] == Rule("posts", "account", 300, 10800)
    assert rules["media", "account"] == Rule("media", "account", 30, 1800)  # Mastodon's
    assert rules["media", "ip"] == Rule("media", "ip", 150, 1800)
    assert rules["follows", "account"] == Rule("follows", "account", 400, 86400)
    assert rules["likes", "account"] == Rule("likes", "account", 1000, 86400)
    assert len(rules) == 16
    development = make_settings(rate_limit_multiplier=10)  # what `make up` sets
    assert RateLimiter(aredis.Redis(), development).rules["signups", "ip"].limit == 50
    assert RateLimiter(aredis.Redis(), development).rules["posts", "ip"].limit == 15000


def test_limits_are_read_from_roost_rate_limit_variables(clean_env):
    monkeypatch = clean_env
    monkeypatch.setenv("ROOST_RATE_LIMIT_POSTS", "42/7")
    monkeypatch.setenv("ROOST_RATE_LIMIT_SIGNUPS_IGNORED", "nonsense")
    monkeypatch.setenv("ROOST_RATE_LIMIT_LOGIN_FAILURES_IP", "9/60")
    monkeypatch.setenv("ROOST_RATE_LIMIT_MULTIPLIER", "3")
    monkeypatch.setenv("ROOST_TRUST_FORWARDED_FOR", "true")
    settings = Settings(environment="test", token_secret=TEST_SECRET)
    limiter = RateLimiter(aredis.Redis(), settings)
    assert limiter.rules["posts", "account"] == Rule("posts", "account", 126, 7)
    assert limiter.rules["login_failures", "ip"] == Rule("login_failures", "ip", 27, 60)
    assert limiter.trust_forwarded_for is True


@pytest.mark.parametrize("value", ["", "300", "0/60", "10/0", "-1/60", "10/60s", "10 / 60",
                                   "1e3/60", "3/1.5", "1234567890/60", "٣/60"])
def test_a_bad_limit_stops_startup_naming_the_variable(clean_env, value):
    monkeypatch = clean_env
    monkeypatch.setenv("ROOST_RATE_LIMIT_POSTS", value)
    with pytest.raises(ValidationError, match="rate_limit_posts"):
        Settings(environment="test", token_secret=TEST_SECRET)
    with pytest.raises(ValueError, match="ROOST_RATE_LIMIT_POSTS must be <count>/<seconds>"):
        parse_rule(value, "rate_limit_posts")


@pytest.mark.parametrize("value", ["0", "-1", "ten"])
def test_bad_multiplier_is_refused(clean_env, value):
    monkeypatch = clean_env
    monkeypatch.setenv("ROOST_RATE_LIMIT_MULTIPLIER", value)
    with pytest.raises(ValidationError, match="rate_limit_multiplier"):
        Settings(environment="test", token_secret=TEST_SECRET)


def test_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown rate-limited action"):
        rate_limit("teleports")


def test_client_address_trusts_forwarded_for_only_when_told():
    scope: dict[str, Any] = {"client": ("10.9.9.9", 5000), "headers": [
        (b"x-forwarded-for", b"6.6.6.6, 1.2.3.4"), (b"x-forwarded-for", b"5.6.7.8")]}
    assert client_address(scope) == "10.9.9.9"
    assert client_address(scope, trust_forwarded_for=True) == "5.6.7.8"  # our proxy's entry
    scope["headers"] = [(b"x-forwarded-for", b"garbage")]
    assert client_address(scope, trust_forwarded_for=True) == "10.9.9.9"
    assert client_address({"client": ("2001:db8:1:2:3:4:5:6", 1), "headers": []}) \
        == "2001:db8:1:2::/64"
    assert client_address({"client": ("::ffff:1.2.3.4", 1), "headers": []}) == "1.2.3.4"
    assert client_address({"client": None, "headers": []}) == "unknown"


async def test_forwarded_addresses_get_their_own_buckets(settings_for, redis_client):
    harness = Harness(settings_for(rate_limit_signups="1/60", trust_forwarded_for=True),
                      redis_client)
    async with harness.client("10.0.0.1") as proxy:
        assert (await proxy.post("/accounts", headers={"X-Forwarded-For": "1.1.1.1"})
                ).status_code == 200
        assert (await proxy.post("/accounts", headers={"X-Forwarded-For": "2.2.2.2"})
                ).status_code == 200
        assert (await proxy.post("/accounts", headers={"X-Forwarded-For": "9.9.9.9, 1.1.1.1"})
                ).status_code == 429


async def test_buckets_live_under_the_prefix_and_expire(settings_for, redis_client):
    settings = settings_for(rate_limit_follows="4/60")
    limiter = RateLimiter(redis_client, settings)
    decision = await limiter.hit("follows", "account", "11")
    assert (decision.allowed, decision.limit, decision.remaining) == (True, 4, 3)
    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{settings.redis_prefix}*")]
    assert keys == [f"{settings.redis_prefix}ratelimit:follows:account:11"]
    assert 0 < await redis_client.pttl(keys[0]) <= 15_001  # gone once the bucket is full
    with pytest.raises(ValueError, match="no account rate limit"):
        await limiter.hit("signups", "account", "11")


async def test_an_action_is_charged_once_a_request(settings_for, redis_client):
    """A route that declares the app-wide ``requests`` limit again is charged it once."""
    harness = Harness(settings_for(rate_limit_requests="2/60"), redis_client)
    alice = harness.auth(6)
    async with harness.client() as client:
        answers = [await client.post("/twice", headers=alice) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
    assert limit_headers(answers[0]) == ("2", "1", "30")
