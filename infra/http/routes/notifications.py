"""The reader's notifications: groups, unread count, read marks and preferences."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import WithJsonSchema

from commands.messages import MarkNotificationsRead, UpdateNotificationPreferences
from domain.errors import ValidationFailed
from domain.ids import MAX_ID, SNOWFLAKE_PATTERN, parse_snowflake
from domain.notifications import NOTIFICATION_TYPES
from infra.http.deps import (
    POSITION_HEADER,
    CurrentActor,
    Cursor,
    Limit,
    MinPosition,
    Services,
    execute,
    read_response,
    wait_until_applied,
)
from infra.http.ratelimit import RIDING_CHARGE
from infra.http.schemas import (
    ERROR_RESPONSES,
    MarkRead,
    NotificationGroup,
    NotificationPreferences,
    NotificationPreferencesPatch,
    UnreadCount,
    page_of,
)
from ports.projectors import NOTIFICATIONS, READ_MODELS
from queries import notifications as notification_queries

router = APIRouter(prefix="/api/notifications", tags=["notifications"],
                   responses=ERROR_RESPONSES)

_ID_SHAPE = re.compile(SNOWFLAKE_PATTERN)
_TYPE = "|".join(NOTIFICATION_TYPES)
TYPES_PATTERN = f"^({_TYPE})(,({_TYPE}))*$"
_TYPES = re.compile(TYPES_PATTERN)
_TYPES_SCHEMA = WithJsonSchema({
    "type": "array", "items": {"type": "string", "pattern": TYPES_PATTERN, "maxLength": 200},
    "description": "Only these types: repeated (types=like&types=follow) or comma-separated"})


def _types(types: list[str] | None) -> frozenset[str] | None:
    """The types asked for; ``422`` naming ``types`` for anything else."""
    if types is None:
        return None
    if not all(len(value) <= 200 and _TYPES.fullmatch(value) for value in types):
        raise ValidationFailed({"types": f"each must be one of {', '.join(NOTIFICATION_TYPES)}"
                                         " (comma-separated or repeated)"})
    return frozenset(name for value in types for name in value.split(","))


@router.get("", response_model=page_of(NotificationGroup), response_model_exclude_unset=True)
async def notifications(actor: CurrentActor, services: Services, response: Response,
                        limit: Limit, min_position: MinPosition, cursor: Cursor = None,
                        types: Annotated[list[str] | None, Query(), _TYPES_SCHEMA] = None,
                        ) -> Response:
    """Your notification groups, latest activity first (``types`` filters)."""
    kinds = _types(types)
    await wait_until_applied(services, response, min_position, NOTIFICATIONS, READ_MODELS)
    page = await notification_queries.notifications_page(
        services.queries, actor.account_id, kinds, cursor, limit)
    return read_response(page, response)


@router.get("/unread_count", response_model=UnreadCount,
            dependencies=[RIDING_CHARGE])  # charge + token check ride with its first read
async def unread_count(actor: CurrentActor, services: Services, response: Response,
                       min_position: MinPosition) -> dict[str, int]:
    """How many of your groups are unread (of the types your preferences leave on)."""
    await wait_until_applied(services, response, min_position, NOTIFICATIONS)
    return await notification_queries.unread_count(services.queries, actor.account_id)


@router.post("/read", status_code=204, response_class=Response)
async def mark_read(body: MarkRead, actor: CurrentActor, services: Services,
                    response: Response, request: Request) -> Response:
    """Mark read every group up to ``up_to_id`` (it and those below it), and/or ``ids``.

    Answers once the projection has applied the mark (at most
    ``ROOST_WRITE_ANSWER_WAIT_S``; ``Roost-Stale: true`` after), so a read that
    follows sees it."""
    if not body.model_fields_set & {"up_to_id", "ids"}:
        raise ValidationFailed({"up_to_id": "send up_to_id, ids or both"})
    texts = {"up_to_id": [] if body.up_to_id is None else [body.up_to_id],
             "ids": body.ids or []}
    for field, values in texts.items():
        if not all(_ID_SHAPE.fullmatch(value) for value in values):
            raise ValidationFailed({field: "must be notification ids (decimal strings)"})
    # an id's shape beyond the 63-bit range names no group: "up to" it is everything
    up_to = None if body.up_to_id is None else parse_snowflake(body.up_to_id) or MAX_ID
    ids = tuple(i for text in body.ids or () if (i := parse_snowflake(text)) is not None)
    result = await execute(services, MarkNotificationsRead(actor, up_to, ids), response,
                           request)
    await wait_until_applied(services, response, result.position, NOTIFICATIONS,
                             timeout_s=services.settings.write_answer_wait_s)
    answer = Response(status_code=204)
    for name in (POSITION_HEADER, "Roost-Stale", "Idempotency-Replayed"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


@router.get("/preferences", response_model=NotificationPreferences)
async def get_preferences(actor: CurrentActor, services: Services, response: Response,
                          min_position: MinPosition) -> dict[str, str]:
    """Whose actions notify you, per type: ``everyone``, ``following`` or ``off``."""
    await wait_until_applied(services, response, min_position, NOTIFICATIONS)
    return await notification_queries.preferences(services.queries, actor.account_id)


@router.patch("/preferences", response_model=NotificationPreferences)
async def update_preferences(body: NotificationPreferencesPatch, actor: CurrentActor,
                             services: Services, response: Response, request: Request
                             ) -> Mapping[str, Any]:
    """Change any of the six; answers all six."""
    changes = {name: value for name in body.model_fields_set
               if (value := getattr(body, name)) is not None}
    result = await execute(services, UpdateNotificationPreferences(actor, changes), response,
                           request)
    return result.data
