"""Rate limits over HTTP: the FastAPI dependency, the login guard, the headers
middleware and the 429 handler.

The limiter itself (rules, GCRA buckets in Redis) is ``infra.rate_limiter``; who
a request is counted against (client address, bearer account) is
``infra.http.client_identity``. A limited request gets ``X-RateLimit-*`` from
its tightest bucket; a refused one gets 429 with ``Retry-After`` as well. The
first charge of a request that carries a valid bearer token also checks the
token's session and account (``infra.security.token_refusal``) in the same
pipeline, so a signed-in request's overhead is one Redis round trip.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.types import Message, Receive, Send
from starlette.types import Scope as AsgiScope

from domain.errors import AccountSuspended, RoostError, Unauthorized
from infra.http.client_identity import bearer_claims, client_address
from infra.http.errors import error_response
from infra.http.middleware import HttpMiddleware
from infra.rate_limiter import (
    ACTIONS,
    HEADER_NAMES,
    Charged,
    Charges,
    Decision,
    LimitScope,
    RateLimited,
    RateLimiter,
    by_scope,
    refusal,
    tightest,
)
from infra.redis_keys import RedisKeys
from infra.ride_along import Rider, arrive, wait
from infra.security import TokenCheck, TokenClaims, queue_token_refusal, refusal_answer

STATE_KEY = "rate_limit_decisions"
REVOCATION_STATE = "roost.revocation_check"
"""Where the first charge of a request with a valid bearer token leaves the token's
revocation check (``TokenCheck``), read in the same round trip; the actor
dependency (``infra.http.deps``) uses it instead of checking again."""


def get_rate_limiter(request: Request) -> RateLimiter:
    """The app's limiter: ``app.state.rate_limiter``, else built once from its services."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        services = state.services
        limiter = state.rate_limiter = RateLimiter(services.redis, services.settings)
    return limiter


def request_address(request: Request) -> str:
    return client_address(request.scope, get_rate_limiter(request).trust_forwarded_for)


def _identities(request: Request, limiter: RateLimiter, action: str,
                claims: TokenClaims | None) -> dict[LimitScope, str]:
    identities: dict[LimitScope, str] = {"ip": request_address(request)}
    if claims is not None and (action, "account") in limiter.rules:
        identities["account"] = str(claims.account_id)
    return identities


def _revocation_check(request: Request, claims: TokenClaims) -> Callable[[Pipeline], None]:
    keys = RedisKeys(request.app.state.services.settings.redis_prefix)
    return partial(queue_token_refusal, keys=keys, session_id=claims.session_id,
                   account_id=claims.account_id)


def _claims(request: Request) -> tuple[TokenClaims | None, TokenClaims | None]:
    """The request's valid bearer claims (``None``: anonymous, or a token that does not
    verify), and the same again when its revocation check is still to be made."""
    claims = bearer_claims(request.scope, request.app.state.services.tokens)
    unchecked = REVOCATION_STATE in request.scope.setdefault("state", {})
    return claims, None if unchecked else claims


def _checked(request: Request, claims: TokenClaims, found: list[Any], *,
             pending: bool = False) -> None:
    """Leave the token's revocation check (``found``: its commands' answers) for the
    actor dependency (``infra.http.deps``)."""
    request.scope["state"][REVOCATION_STATE] = TokenCheck(
        claims.session_id, claims.account_id, None if pending else refusal_answer(found),
        pending=pending)


async def _charge(request: Request, response: Response, action: str) -> None:
    limiter = get_rate_limiter(request)
    claims, unchecked = _claims(request)
    identities = _identities(request, limiter, action, claims)
    if unchecked is None:
        decisions = await limiter.hit_all(action, identities)
    else:  # the token's revocation check rides along: one round trip for both
        decisions, found = await limiter.hit_all_with(
            action, identities, _revocation_check(request, unchecked))
        _checked(request, unchecked, found)
    state = request.scope["state"]
    state[CHARGED_STATE] = state.get(CHARGED_STATE, frozenset()) | {action}
    _judge(request, response, by_scope(action, decisions))


def _judge(request: Request, response: Response, charged: Charges) -> None:
    """Record a charge's decisions for the headers; 429 when a bucket refused
    (``infra.rate_limiter.refusal``), else the tightest so far on ``response``."""
    seen = _record(request, [decision for _, _, decision in charged])
    if (refused := refusal(charged)) is not None:
        raise refused
    if seen:
        response.headers.update(tightest(seen).headers())


def refusal_error(refusal: str | None) -> RoostError | None:
    """The error a token's revocation check answers (``infra.security.token_refusal``):
    ``403 account_suspended``, ``401 session_ended``, or ``None`` (it may act)."""
    if refusal == "account_suspended":
        return AccountSuspended()
    if refusal is not None:
        return Unauthorized("this session has ended; log in again", code="session_ended")
    return None


def request_charge(action: str = "requests") -> Callable[..., Awaitable[None]]:
    """The dependency every API route carries (``infra.http.app``): ``rate_limit(action)``
    -- with the route's own limit (a ``rate_limit`` dependency it declares: ``posts``,
    ``follows``, ``media``...) in the same script call, all or none, so a write's
    overhead is one round trip, not two; and nothing for a route that declares
    ``RIDING_CHARGE``, which makes the charge itself."""
    async def charge(request: Request, response: Response) -> None:
        route = request.scope.get("route")
        if RIDING_CHARGE in getattr(route, "dependencies", ()):
            return  # it charges itself, riding along
        own = _route_action(request, action)
        if own is None or not await _charge_together(request, response, [action, own]):
            await _charge(request, response, action)

    return charge


@asynccontextmanager
async def riding_charge(request: Request, response: Response) -> AsyncIterator[None]:
    """The ``requests`` charge and token check riding with the first Redis round trip
    of the block it wraps, judged when the block is done (or made now, when they cannot
    ride: no valid token, a Redis Cluster): ``RIDING_CHARGE``'s dependency, and the hot
    home read's (``infra.http.hot_home``). A block whose pipeline with the charge
    aboard failed because Redis did not answer is not charged again alone: that would
    wait out another timeout before the 503, and could charge twice a pipeline whose
    reply, not its run, was lost. A charge that never boarded (the block failed on
    another call first) is sent alone as before."""
    rider = _waiting_charge(request, RIDING_ACTION)
    if rider is None:
        await _charge(request, response, RIDING_ACTION)
        yield
        return
    try:
        yield
    except Exception as error:
        lost = isinstance(error, RedisConnectionError | RedisTimeoutError) \
            and rider.boarded and not rider.landed  # its own ride failed: 503, no retry
        if not lost:
            with anyio.CancelScope(shield=True):  # its refusal, if any, comes first
                await _settle(request, RIDING_ACTION, rider)
        raise
    except BaseException:  # cancelled (anyio): still charged, not judged. The shield
        # holds off anyio's cancellation only: an asyncio Task.cancel() that lands
        # during the charge's round trip can leave the request uncharged.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await arrive(rider)
        raise
    with anyio.CancelScope(shield=True):
        await _settle(request, RIDING_ACTION, rider)


async def _riding_charge(request: Request, response: Response) -> AsyncIterator[None]:
    """``RIDING_CHARGE``'s dependency: ``riding_charge`` around the route."""
    async with riding_charge(request, response):
        yield


RIDING_ACTION = "requests"
MIN_POSITION_HEADER = "roost-min-position"
RIDING_CHARGE = Depends(_riding_charge, scope="function")
"""For a route whose first Redis round trip takes riders (a read of a Redis projection:
``infra.ride_along``; the home timeline): declared in its ``dependencies``, it makes
the ``requests`` charge and the token's revocation check go with that round trip
instead of one of their own, and judges them when the route is done, or has raised,
before its answer leaves: a refusal (429, then 401/403 for a revoked token or a
suspended account) replaces whatever the route answered or raised, in the order a
charge made first gives. A charge nothing took (a page size refused before the route
ran) is sent alone then: every request is charged once. Until then the actor
dependency takes the token as valid (``TokenCheck.pending``), so the route must only
read (the timeline's keep-alive at most): nothing it did reaches the caller unless the
charge allows it. ``scope="function"``: judged before the answer is sent."""


def _waiting_charge(request: Request, action: str) -> Rider[Charged] | None:
    """The request's charge and token check as a waiting rider, when its token
    verifies and they can ride (``RateLimiter.rides_along``) -- not for a read that
    waits for ``Roost-Min-Position`` first: a refused one must not be held that long."""
    if MIN_POSITION_HEADER in request.headers:
        return None
    _, claims = _claims(request)
    if claims is None:
        return None
    limiter = get_rate_limiter(request)
    rider = limiter.rides_along(action, _identities(request, limiter, action, claims),
                                _revocation_check(request, claims))
    if rider is None:
        return None
    rider.check = partial(_stop_if_refused, action)
    _checked(request, claims, [], pending=True)
    wait(rider)
    return rider


async def _settle(request: Request, action: str, rider: Rider[Charged]) -> None:
    """Judge a charge that rode along (or send it now): 429 if refused, then 401/403
    if the token's session ended or its account is suspended."""
    decisions, found = await arrive(rider)
    state = request.scope["state"]
    pending: TokenCheck = state[REVOCATION_STATE]
    state[REVOCATION_STATE] = TokenCheck(pending.session_id, pending.account_id,
                                         refusal_answer(found))
    _record(request, list(decisions.values()))
    if (refused := _refusal(action, (decisions, found))) is not None:
        raise refused


def _refusal(action: str, answer: Charged) -> RoostError | None:
    """What a charge with the token's check answered, as the error to raise: 429 if a
    bucket refused, else 401/403 if the token may no longer act, else ``None``."""
    decisions, found = answer
    return refusal(by_scope(action, decisions)) or refusal_error(refusal_answer(found))


def _stop_if_refused(action: str, answer: Charged) -> None:
    """A riding charge's ``check``: the read it rode with stops at once when the charge
    is refused (a refused request costs that one round trip, not the whole read)."""
    if (refused := _refusal(action, answer)) is not None:
        raise refused


def record_decision(request: Request, decision: Decision) -> None:
    """Count a limit checked outside this module (the open-streams cap) among the
    request's decisions, so its answer's ``X-RateLimit-*`` describe it when tightest."""
    _record(request, [decision])


def _record(request: Request, decisions: list[Decision]) -> list[Decision]:
    """Remember a request's decisions for RateLimitHeadersMiddleware; all so far."""
    seen: list[Decision] = [*getattr(request.state, STATE_KEY, []), *decisions]
    setattr(request.state, STATE_KEY, seen)
    return seen


def rate_limit(action: str) -> Callable[..., Awaitable[None]]:
    """A dependency charging ``action`` to the caller's account (when signed in) and
    address; it sets X-RateLimit-* and raises RateLimited (429) on refusal."""
    if action not in ACTIONS:
        raise ValueError(f"unknown rate-limited action {action!r}; known: {ACTIONS}")

    async def charge(request: Request, response: Response) -> None:
        if action not in request.scope.get("state", {}).get(CHARGED_STATE, ()):
            await _charge(request, response, action)  # not charged with ``requests``

    setattr(charge, ROUTE_ACTION, action)
    return charge


ROUTE_ACTION = "roost_rate_limit_action"
"""The attribute naming a ``rate_limit`` dependency's action: ``request_charge`` finds
a route's own limit among the route's dependencies by it (any callable may be a
dependency, hashable or not, so it is an attribute, not a registry)."""
CHARGED_STATE = "roost.charged_actions"
"""The actions a request has been charged for (a ``rate_limit`` dependency of one of
them then charges nothing more: each action once a request)."""


def _route_action(request: Request, charged: str) -> str | None:
    """The action of a ``rate_limit`` dependency the request's route declares, if any,
    other than ``charged``."""
    for depends in getattr(request.scope.get("route"), "dependencies", ()):
        action = getattr(depends.dependency, ROUTE_ACTION, None)
        if isinstance(action, str) and action != charged:
            return action
    return None


async def _charge_together(request: Request, response: Response, actions: list[str]
                           ) -> bool:
    """``_charge`` for several actions in one script call, all or none (and the token's
    check in the same pipeline); ``False`` when they cannot go together (a Redis
    Cluster: their buckets are in several slots), nothing charged then."""
    limiter = get_rate_limiter(request)
    claims, unchecked = _claims(request)
    check = None if unchecked is None else _revocation_check(request, unchecked)
    answer = await limiter.hit_together(
        [(action, _identities(request, limiter, action, claims)) for action in actions], check)
    if answer is None:
        return False
    charged, found = answer
    if unchecked is not None:
        _checked(request, unchecked, found)
    request.scope["state"][CHARGED_STATE] = frozenset(actions)
    _judge(request, response, charged)
    return True


@asynccontextmanager
async def login_attempt(request: Request, login: str) -> AsyncIterator[None]:
    """Refuse (429) a login while its name from this address, or this address, failed
    too often; count ``invalid_credentials`` failures, and forget the name's failures
    from this address on success."""
    limiter, ip = get_rate_limiter(request), request_address(request)
    try:
        await limiter.check_login_allowed(login, ip)
    except RateLimited as refused:
        _record(request, [refused.decision])
        raise
    try:
        yield
    except Unauthorized as error:
        if error.code == "invalid_credentials":  # the headers warn before the 429 comes
            _record(request, await limiter.login_failed(login, ip))
        raise
    await limiter.login_succeeded(login, ip)


def install_rate_limit_handler(app: FastAPI) -> None:
    """Answer RateLimited with the error body plus its Retry-After and X-RateLimit-*."""

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


class RateLimitHeadersMiddleware(HttpMiddleware):
    """Put X-RateLimit-* on every answer to a limited request, including errors and
    routes that return a ``Response`` themselves (FastAPI drops dependency headers
    there). It reads what ``rate_limit`` left in the request state."""

    _names = frozenset(name.lower().encode() for name in HEADER_NAMES)

    async def http(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})

        async def with_headers(message: Message) -> None:
            decisions: list[Decision] = state.get(STATE_KEY) or []
            if message["type"] == "http.response.start" and decisions:
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in self._names]
                headers += [(k.lower().encode(), v.encode())
                            for k, v in tightest(decisions).headers().items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
