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

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Send
from starlette.types import Scope as AsgiScope

from domain.errors import Unauthorized
from infra.http.client_identity import bearer_claims, client_address
from infra.http.errors import error_response
from infra.http.middleware import HttpMiddleware
from infra.rate_limiter import (
    ACTIONS,
    HEADER_NAMES,
    Decision,
    LimitScope,
    RateLimited,
    RateLimiter,
    tightest,
)
from infra.redis_keys import RedisKeys
from infra.security import TokenCheck, queue_token_refusal, refusal_answer

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


async def _charge(request: Request, response: Response, action: str) -> None:
    limiter = get_rate_limiter(request)
    identities: dict[LimitScope, str] = {"ip": request_address(request)}
    services = request.app.state.services
    claims = bearer_claims(request.scope, services.tokens)
    if claims is not None and (action, "account") in limiter.rules:
        identities["account"] = str(claims.account_id)
    state = request.scope.setdefault("state", {})
    if claims is None or REVOCATION_STATE in state:
        decisions = await limiter.hit_all(action, identities)
    else:  # the token's revocation check rides along: one round trip for both
        check = partial(queue_token_refusal, keys=RedisKeys(services.settings.redis_prefix),
                        session_id=claims.session_id, account_id=claims.account_id)
        decisions, found = await limiter.hit_all_with(action, identities, check)
        state[REVOCATION_STATE] = TokenCheck(claims.session_id, claims.account_id,
                                              refusal_answer(found))
    seen = _record(request, list(decisions.values()))
    for scope, decision in decisions.items():
        if not decision.allowed:
            raise RateLimited(action, scope, decision)
    if seen:
        response.headers.update(tightest(seen).headers())


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
        await _charge(request, response, action)

    return charge


@asynccontextmanager
async def login_attempt(request: Request, login: str) -> AsyncIterator[None]:
    """Refuse (429) a login while its name or address failed too often; count
    ``invalid_credentials`` failures and forget the name's failures on success."""
    limiter, ip = get_rate_limiter(request), request_address(request)
    try:
        await limiter.check_login_allowed(login, ip)
    except RateLimited as refused:
        _record(request, [refused.decision])
        raise
    try:
        yield
    except Unauthorized as error:
        if error.code == "invalid_credentials":
            await limiter.login_failed(login, ip)
        raise
    await limiter.login_succeeded(login)


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
