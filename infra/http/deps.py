"""Request dependencies: services, the current account, paging, read-your-writes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import WithJsonSchema

from commands.idempotency import IdempotencyClaim
from commands.messages import Actor, Result
from domain.accounts import MAX_USERNAME, USERNAME_PATTERN
from domain.errors import NotFound, Unauthorized, ValidationFailed
from domain.ids import MAX_ID, SNOWFLAKE_PATTERN, parse_snowflake
from infra.http.middleware import add_answer_header
from infra.http.ratelimit import REVOCATION_STATE, refusal_error
from infra.http.services import ApiServices
from infra.http.text import CleanText
from infra.metrics import STALE_READS
from infra.security import InvalidToken, TokenCheck, token_refusal
from queries.positions import wait_for_position

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
IDEMPOTENCY_STATE = "roost.idempotency"  # where IdempotencyMiddleware leaves its claim
POSITION_HEADER = "Roost-Position"

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/sessions")


async def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


async def optional_actor(
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    request: Request,
) -> Actor | None:
    """The account a valid bearer token names, ``None`` without a token; ``401`` for a
    bad, expired or revoked token."""
    if credentials is None:
        return None
    checked: TokenCheck | None = request.scope.get("state", {}).get(REVOCATION_STATE)
    return await actor_of_token(services, credentials.credentials, checked)


async def actor_of_token(services: ApiServices, token: str, checked: TokenCheck | None = None
                         ) -> Actor:
    """The account an access token names; ``401`` for a bad, expired or revoked one,
    ``403`` (``account_suspended``) while its account is suspended. ``checked``: the
    revocation check the request's rate-limit charge made in its own round trip
    (``infra.http.ratelimit``), used when it is of this token's session -- a pending
    one is enforced by the charge itself before the route's answer leaves."""
    try:
        claims = services.tokens.verify(token)
    except InvalidToken as error:
        raise Unauthorized(error.message, code=error.code) from None
    if checked is not None and (checked.session_id, checked.account_id) == (
            claims.session_id, claims.account_id):
        refusal = checked.refusal  # None while pending: enforced before the answer leaves
    else:
        refusal = await token_refusal(services.redis, services.keys, claims.session_id,
                                      claims.account_id)
    if (refused := refusal_error(refusal)) is not None:
        raise refused
    return Actor(claims.account_id, claims.username, claims.session_id)


async def required_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    """The account of the bearer token; ``401`` (``missing_token``) without one."""
    if actor is None:
        raise Unauthorized("an access token is required (Authorization: Bearer ...)",
                           code="missing_token")
    return actor


CurrentActor = Annotated[Actor, Depends(required_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]


_DIGITS = re.compile(r"[0-9]{1,100}")  # clamped; longer is no page size
_LIMIT_SCHEMA = WithJsonSchema({"type": "integer", "minimum": 1, "default": 20,
                                "description": "Page size, 1-100 (larger is clamped)"})


async def _limit(
    limit: Annotated[str | None, Query(description="Page size, 1-100 (larger is clamped)"),
                     _LIMIT_SCHEMA] = None,
) -> int:
    """The ``limit`` query parameter (``parse_limit``)."""
    return parse_limit(limit)


def parse_limit(limit: str | None) -> int:
    """A page size: ``DEFAULT_LIMIT`` when absent, at most ``MAX_LIMIT`` (larger is
    clamped). ASCII digits only: ``1.0``, ``+5``, `` 5`` and ``5 `` are 422 like any
    other non-integer (a lenient int parse would take them).

    Raises:
        ValidationFailed: not a positive integer (422 naming ``limit``).
    """
    if limit is None:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(limit) or int(limit) < 1:
        raise ValidationFailed({"limit": "must be a positive integer"})
    return min(int(limit), MAX_LIMIT)


Limit = Annotated[int, Depends(_limit)]
MAX_CURSOR = 200
Cursor = Annotated[CleanText | None,
                   Query(max_length=MAX_CURSOR, description="next_cursor of the last page")]
Username = Annotated[str, Path(max_length=MAX_USERNAME, pattern=USERNAME_PATTERN,
                               description="Any case; a value of another shape is 404")]
PostId = Annotated[str, Path(max_length=19, pattern=SNOWFLAKE_PATTERN,
                             description="A post id (decimal string); another shape is 404")]

_POSITION = re.compile(r"[0-9]{1,19}")
_POSITION_SCHEMA = WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ID,
                                   "description": "A global event position (Roost-Position)"})


async def parse_min_position(
    value: Annotated[str | None, Header(alias="Roost-Min-Position"), _POSITION_SCHEMA] = None,
) -> int | None:
    """The position a read waits for: ASCII digits only, at most 2**63 - 1 (else 422)."""
    if value is None:
        return None
    if not _POSITION.fullmatch(value) or int(value) > MAX_ID:
        raise ValidationFailed({"Roost-Min-Position": "must be a non-negative integer "
                                f"of at most {MAX_ID}"})
    return int(value)


MinPosition = Annotated[int | None, Depends(parse_min_position)]


async def wait_until_applied(
    services: ApiServices, response: Response, min_position: int | None, *projections: str,
    timeout_s: float | None = None,
) -> None:
    """Hold the read until ``projections`` reach ``min_position``; mark it stale on
    timeout (``timeout_s``, by default ``min_position_wait_s`` seconds)."""
    wait_s = services.settings.min_position_wait_s if timeout_s is None else timeout_s
    reached = await wait_for_position(services.queries, min_position, projections, wait_s)
    if not reached:
        STALE_READS.inc()
        response.headers["Roost-Stale"] = "true"
        add_answer_header("Roost-Stale", "true")  # also on a 404 the route raises next


def snowflake_or_404(text: str, what: str = "post") -> int:
    value = parse_snowflake(text)
    if value is None:
        raise NotFound(f"{what} not found", code=f"{what}_not_found")
    return value


async def execute(services: ApiServices, command: object, response: Response,
                  request: Request) -> Result:
    """Run a command off the event loop and put its position on the response.

    The request's Idempotency-Key (a claim the middleware left in its state)
    goes to the bus, which records it with the command's events; an answer
    recorded by an earlier run is marked ``Idempotency-Replayed: true``.
    """
    claim: IdempotencyClaim | None = request.scope.get("state", {}).get(IDEMPOTENCY_STATE)
    result: Result = await run_in_threadpool(services.bus.handle, command, claim)
    response.headers[POSITION_HEADER] = str(result.position)
    if result.replayed:
        response.headers["Idempotency-Replayed"] = "true"
    return result


def as_api_ids(data: Mapping[str, Any]) -> dict[str, Any]:
    """Snowflake ints to strings, as API.md requires."""
    return {k: (str(v) if k.endswith("id") and isinstance(v, int) else v) for k, v in data.items()}


def read_response(data: Any, response: Response) -> Response:
    """The answer of a hot read path, serialised by orjson.

    Query handlers already build exactly the documented shapes, so validating
    them again against the response model (which stays declared, for the
    OpenAPI document) only costs time. Headers set on ``response`` are kept.
    """
    answer = Response(orjson.dumps(data), media_type="application/json")
    for name, value in response.headers.items():
        if name not in ("content-length", "content-type"):
            answer.headers[name] = value
    return answer
