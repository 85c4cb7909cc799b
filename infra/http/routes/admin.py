"""The admin events API: stored events by page and as a live NDJSON stream.

Only for admin tokens: every request checks the account's events for the role
(``commands.admins.is_admin``), so a revoked admin's token is refused at once
(403 ``not_admin``), and an open stream ends within ``ROOST_ADMIN_ROLE_RECHECK_S``
(as it does when its session is logged out).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import WithJsonSchema
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from commands.admins import is_admin
from commands.messages import Actor
from domain.accounts import MAX_USERNAME, USERNAME_PATTERN, Account
from domain.errors import Forbidden, ValidationFailed
from domain.ids import MAX_ID, account_uuid
from infra.event_types import known_event_types
from infra.http.deps import CurrentActor, Limit, Services, read_response
from infra.http.schemas import ERROR_RESPONSES, Event, page_of
from infra.http.services import ApiServices
from infra.metrics import ADMIN_STREAMS
from infra.security import token_refusal
from ports.event_reader import EventFilter
from queries.admin_events import events_page, follow_events

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERROR_RESPONSES)

NDJSON = "application/x-ndjson"
MAX_TYPES = 100
_POSITION = re.compile(r"[0-9]{1,19}")
_TYPE_LIST = re.compile(r"[A-Za-z0-9_,]*")


async def _still_admin(services: ApiServices, actor: Actor) -> bool:
    return await run_in_threadpool(is_admin, services.bus.context.store, actor.username,
                                   actor.account_id)


async def _stream_allowed(services: ApiServices, actor: Actor) -> bool:
    """An open stream goes on while its account is an admin, not suspended, and its
    session has not ended (logged out, or its refresh token reused)."""
    if await token_refusal(services.redis, services.keys, actor.session_id,
                           actor.account_id) is not None:
        return False
    return await _still_admin(services, actor)


async def admin_actor(actor: CurrentActor, services: Services) -> Actor:
    """The bearer token's account if it is an admin now; ``403`` (``not_admin``) if not,
    ``401`` without a valid token."""
    if not await _still_admin(services, actor):
        raise Forbidden("this needs an admin's token (roost accounts grant-admin)",
                        code="not_admin")
    return actor


AdminActor = Annotated[Actor, Depends(admin_actor)]

_TYPE_NAME = "(" + "|".join(sorted(known_event_types())) + ")"
TYPES_PATTERN = f"^({_TYPE_NAME}(,{_TYPE_NAME})*)?$"
"""A comma-separated list of event types, as the document states it (every name known)."""

# Read as text and checked here (ASCII digits only, at most 2**63 - 1), documented as
# the integer it is.
After = Annotated[str | None, Query(max_length=19), WithJsonSchema({
    "type": "integer", "minimum": 0, "maximum": MAX_ID,
    "description": "Events after this position (exclusive); 0 or absent: from the first. "
                   "A page's next_cursor goes here"})]
PositionCursor = Annotated[str | None, Query(max_length=200), WithJsonSchema({
    "type": "integer", "minimum": 0, "maximum": MAX_ID,
    "description": "A page's next_cursor (API.md's paging parameter): the same as `after`, "
                   "which it overrides"})]
Types = Annotated[str | None, Query(max_length=4000), WithJsonSchema({
    "type": "string", "pattern": TYPES_PATTERN,
    "description": "Comma-separated event types (PostCreated,Followed); absent or empty: "
                   "all"})]
AccountName = Annotated[str | None, Query(
    max_length=MAX_USERNAME, pattern=USERNAME_PATTERN,
    description="Only the events this account caused (a username, any case)")]
AggregateId = Annotated[UUID | None, Query(description="Only this aggregate's events")]


def _after(after: str | None, cursor: str | None) -> int:
    """The position to read after: ``cursor`` (API.md's paging parameter) if given, else
    ``after`` (a client that appends ``cursor=<next_cursor>`` to a query with its first
    ``after`` goes on from the cursor); ``422`` for anything but a position
    (``invalid_cursor`` for a cursor, as on every other list)."""
    value, name = (after, "after") if cursor is None else (cursor, "cursor")
    if value is None:
        return 0
    if not _POSITION.fullmatch(value) or int(value) > MAX_ID:
        raise ValidationFailed({name: f"must be a position: an integer 0-{MAX_ID}"},
                               code="invalid_cursor" if name == "cursor" else None)
    return int(value)


def _types(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    if not _TYPE_LIST.fullmatch(value):
        raise ValidationFailed({"types": "must be comma-separated event types"})
    names = frozenset(name for name in value.split(",") if name)
    if len(names) > MAX_TYPES:
        raise ValidationFailed({"types": f"at most {MAX_TYPES} types"})
    unknown = sorted(names - known_event_types())
    if unknown:
        raise ValidationFailed({"types": f"no such event type: {', '.join(unknown)[:200]}"})
    return names


async def _account_id(services: ApiServices, username: str | None) -> int | None:
    if username is None:
        return None
    account: Account | None = await run_in_threadpool(
        services.bus.context.store.get_or_none, account_uuid(username))
    if account is None:
        raise ValidationFailed({"account": "no account has this username"},
                               code="reference_not_found")
    return account.account_id


async def event_filter(services: Services, after: After = None, cursor: PositionCursor = None,
                       types: Types = None, account: AccountName = None,
                       aggregate_id: AggregateId = None) -> EventFilter:
    """The filter the query names; ``422`` for a bad value (``reference_not_found`` for
    a well-formed username that names no account, ``invalid_cursor`` for a cursor that
    is no position)."""
    return EventFilter(types=_types(types),
                       aggregate_ids=frozenset() if aggregate_id is None
                       else frozenset({str(aggregate_id)}),
                       account_id=await _account_id(services, account),
                       after=_after(after, cursor))


Filter = Annotated[EventFilter, Depends(event_filter)]


@router.get("/events", response_model=page_of(Event))
async def events(actor: AdminActor, services: Services, wanted: Filter, limit: Limit,
                 response: Response) -> Response:
    """Stored events in position order, oldest first, after `after`: `{items: [Event],
    next_cursor}`. Pass `next_cursor` as the next `cursor` (or `after`); it is null once
    no later event existed at the read. With `account`, a page may be short (even empty)
    with a cursor: each request examines a bounded number of events."""
    return read_response(await events_page(services.events, wanted, limit), response)


class NdjsonResponse(StreamingResponse):
    """A streaming response that stops producing as soon as the client leaves: it
    listens for ``http.disconnect`` whatever ASGI version the server speaks (Starlette
    relies on a failed send from ASGI 2.4 on, which an idle stream never makes)."""

    media_type = NDJSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:
                async def produce() -> None:
                    with contextlib.suppress(OSError):  # the client went away mid-write
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(produce)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:  # cancelled between two chunks, the generator would wait for the GC
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()


_STREAM_DOC: dict[int | str, dict[str, object]] = {200: {
    "description": "One Event (JSON) per line, then each new one as it is stored; an "
                   "empty line is a keep-alive (docs/api.md, Admin events)",
    "content": {NDJSON: {"schema": {"type": "string"}}}}}


@router.get("/events/stream", response_class=NdjsonResponse, responses=_STREAM_DOC)
async def events_stream(actor: AdminActor, services: Services, wanted: Filter) -> Response:
    """The events after `after` as NDJSON (`application/x-ndjson`), then every new one
    as it is stored, until the client leaves. Reconnect with `after` = the position of
    the last line received to resume exactly. Ends when the token's account stops being
    an admin."""
    settings = services.settings

    async def lines() -> AsyncIterator[bytes]:
        ADMIN_STREAMS.inc()
        try:
            async for chunk in follow_events(
                    services.events, wanted, poll_s=settings.admin_stream_poll_s,
                    keepalive_s=settings.admin_stream_keepalive_s,
                    still_allowed=lambda: _stream_allowed(services, actor),
                    recheck_s=settings.admin_role_recheck_s, sleep=asyncio.sleep):
                yield chunk
        finally:
            ADMIN_STREAMS.dec()

    return NdjsonResponse(lines(), headers={"Cache-Control": "no-store",
                                            "X-Accel-Buffering": "no"})
