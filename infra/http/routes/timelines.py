"""The reader's home timeline, and tag timelines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from infra.http.deps import (
    CurrentActor,
    Cursor,
    Limit,
    MinPosition,
    OptionalActor,
    Services,
    read_response,
    wait_until_applied,
)
from infra.http.ratelimit import RIDING_CHARGE
from infra.http.schemas import ERROR_RESPONSES, Post, page_of
from infra.http.text import CleanText
from ports.projectors import READ_MODELS, TIMELINES
from queries.tags import tag_timeline
from queries.timelines import home_timeline

router = APIRouter(prefix="/api/timelines", tags=["timelines"], responses=ERROR_RESPONSES)


@router.get("/home", response_model=page_of(Post), response_model_exclude_unset=True,
            dependencies=[RIDING_CHARGE])  # charge + token check ride with the first reads
async def home(actor: CurrentActor, services: Services, response: Response, limit: Limit,
               min_position: MinPosition, cursor: Cursor = None) -> Response:
    """Your posts and those of the accounts you follow, newest first."""
    await wait_until_applied(services, response, min_position, TIMELINES, READ_MODELS)
    page = await home_timeline(services.queries, actor.account_id, cursor, limit)
    return read_response(page, response)


Tag = Annotated[CleanText, Path(description="A hashtag, any case, without #; one no post "
                                "can carry (over 100 characters, say) is an empty page")]


@router.get("/tag/{tag}", response_model=page_of(Post), response_model_exclude_unset=True)
async def tag(tag: Tag, services: Services, actor: OptionalActor, response: Response,
              limit: Limit, min_position: MinPosition, cursor: Cursor = None) -> Response:
    """The newest posts with this hashtag (any case); with a token, without the accounts
    the reader blocks, is blocked by or mutes (read model ``rm_post_tags``)."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    page = await tag_timeline(services.queries, tag, actor.account_id if actor else None,
                              cursor, limit)
    return read_response(page, response)
