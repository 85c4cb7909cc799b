"""Server-Sent Events: the reader's notifications and home timeline, live.

The token comes as ``Authorization: Bearer`` or, for browser ``EventSource``
clients that cannot set headers, as ``?access_token=``. Request logs carry the
path without its query string (``infra.http.middleware``) and uvicorn's access
log is off, so the query token never reaches a log line.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from commands.messages import Actor
from domain.errors import Unauthorized
from infra.http.deps import Services, actor_of_token
from infra.http.errors import error_response
from infra.http.ratelimit import record_decision
from infra.http.schemas import ERROR_RESPONSES
from infra.http.services import ApiServices
from infra.http.streaming import LiveResponse, live_events
from infra.rate_limiter import Decision
from infra.security import token_refusal
from ports.errors import DependencyUnavailable
from ports.live import AUTHOR_CHANNEL, HOME_CHANNEL, NOTIFICATIONS_CHANNEL, Channel
from ports.projectors import READ_MODELS
from queries.positions import wait_for_position
from queries.timelines import followed_celebrities

_SSE: dict[int | str, dict[str, object]] = {200: {
    "description": "A stream of Server-Sent Events (docs/api.md, Streaming)",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
router = APIRouter(prefix="/api/streaming", tags=["streaming"],
                   responses={**ERROR_RESPONSES, **_SSE})
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/sessions")

AccessToken = Annotated[str | None, Query(
    max_length=4096, description="The access token, for EventSource clients that cannot "
    "send Authorization (never logged)")]
LastEventId = Annotated[str | None, Header(
    alias="Last-Event-ID", description="Resume after this event id; a malformed or too old "
    "one, or one beyond anything published, starts the stream with `event: reset`")]


async def stream_actor(
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: AccessToken = None,
) -> Actor:
    """The account of the bearer token, else of ``?access_token=``; ``401`` without."""
    token = credentials.credentials if credentials is not None else access_token
    if not token:
        raise Unauthorized("an access token is required (Authorization: Bearer ... or "
                           "?access_token=...)", code="missing_token")
    return await actor_of_token(services, token)


StreamActor = Annotated[Actor, Depends(stream_actor)]


@router.get("/notifications", response_class=Response)
async def notifications(actor: StreamActor, services: Services, request: Request,
                        last_event_id: LastEventId = None) -> Response:
    """Your notifications as they happen: `event: notification`, data a Notification group."""
    return await open_stream(services, request, actor,
                             [(NOTIFICATIONS_CHANNEL, actor.account_id)], last_event_id)


@router.get("/home", response_class=Response)
async def home(actor: StreamActor, services: Services, request: Request,
               last_event_id: LastEventId = None) -> Response:
    """New items of your home timeline (`event: update`, data a Post) and items that left
    it (`event: delete`, data `{id}`)."""
    # Celebrities' items are pulled, not pushed: their own channels carry them.
    async with services.live.busy if services.live else contextlib.nullcontext():
        celebrities = await followed_celebrities(services.queries, actor.account_id)
    channels: list[tuple[Channel, int]] = [(HOME_CHANNEL, actor.account_id),
                                           *((AUTHOR_CHANNEL, c) for c in celebrities)]
    return await open_stream(services, request, actor, channels, last_event_id)


async def open_stream(services: ApiServices, request: Request, actor: Actor,
                      channels: Sequence[tuple[Channel, int]], last_event_id: str | None
                      ) -> Response:
    """Take one of the account's stream slots (``429`` when all are held), subscribe
    from ``last_event_id``, and stream until the client leaves."""
    live = services.live
    if live is None:
        raise DependencyUnavailable("live streams are not served by this process")
    async with live.busy:
        slot, wait_s = await live.slots.acquire(actor.account_id)
    if slot is None:
        retry = max(1, math.ceil(wait_s))
        # its X-RateLimit-* describe the cap, not the requests budget
        record_decision(request, Decision(False, live.slots.limit, 0, wait_s, wait_s))
        return error_response(
            429, "rate_limited", f"at most {live.slots.limit} streams may be open at once "
            f"for this account; close one, or retry in {retry} s",
            {"action": "streams", "scope": "account", "limit": live.slots.limit,
             "retry_after_s": retry}, headers={"Retry-After": str(retry)})
    try:
        async with live.busy:
            subscription = await live.subscriber.subscribe(channels, last_event_id)
    except BaseException:
        await live.slots.release(slot)
        raise

    async def cleanup() -> None:
        await subscription.close()
        await live.slots.release(slot)

    async def ready(position: int) -> None:  # renderers read the read models
        await wait_for_position(services.queries, position, (READ_MODELS,),
                                services.settings.min_position_wait_s)

    async def refusal() -> str | None:  # a logout or a suspension ends the stream
        if live.session_checks is not None:  # with the other streams woken together
            return await live.session_checks.refusal(actor.session_id, actor.account_id)
        return await token_refusal(services.redis, services.keys, actor.session_id,
                                   actor.account_id)

    return LiveResponse(
        live_events(subscription, actor.account_id, live.renderers, last_event_id, ready,
                    live.busy, refusal=refusal, recheck_s=live.recheck_s),
        cleanup, ping=live.keepalive_s, send_timeout=live.send_timeout_s)
