"""The reader's home timeline."""

from __future__ import annotations

from fastapi import APIRouter, Response

from infra.http.deps import (
    CurrentActor,
    Cursor,
    Limit,
    MinPosition,
    Services,
    read_response,
    wait_until_applied,
)
from infra.http.schemas import ERROR_RESPONSES, Page, Post
from ports.projectors import READ_MODELS, TIMELINES
from queries.timelines import home_timeline

router = APIRouter(prefix="/api/timelines", tags=["timelines"], responses=ERROR_RESPONSES)


@router.get("/home", response_model=Page[Post], response_model_exclude_unset=True)
async def home(actor: CurrentActor, services: Services, response: Response, limit: Limit,
               min_position: MinPosition, cursor: Cursor = None) -> Response:
    """Your posts and those of the accounts you follow, newest first."""
    await wait_until_applied(services, response, min_position, TIMELINES, READ_MODELS)
    page = await home_timeline(services.queries, actor.account_id, cursor, limit)
    return read_response(page, response)
