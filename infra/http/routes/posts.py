"""Creating, reading and deleting posts."""

from __future__ import annotations

import re
from typing import cast

from fastapi import APIRouter, Depends, Request, Response

from commands.messages import CreatePost, DeletePost
from commands.views import PostView
from domain.errors import ValidationFailed
from domain.ids import SNOWFLAKE_PATTERN, parse_snowflake
from infra.http.answers import account_answer, counted_account, post_answer, written_account
from infra.http.deps import (
    CurrentActor,
    Cursor,
    Limit,
    MinPosition,
    OptionalActor,
    PostId,
    Services,
    Username,
    execute,
    snowflake_or_404,
    wait_until_applied,
)
from infra.http.ratelimit import rate_limit
from infra.http.schemas import ERROR_RESPONSES, NewPost, Post, page_of
from ports.projectors import READ_MODELS
from queries import posts as post_queries
from queries import shapes

SNOWFLAKE_SHAPE = re.compile(SNOWFLAKE_PATTERN)

router = APIRouter(prefix="/api", tags=["posts"], responses=ERROR_RESPONSES)


def _optional_id(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    parsed = parse_snowflake(value)
    if parsed is None:
        if SNOWFLAKE_SHAPE.fullmatch(value):  # an id's shape beyond the 63-bit range
            raise ValidationFailed({field: "refers to a post that does not exist"},
                                   code="reference_not_found")
        raise ValidationFailed({field: "must be a post id (a decimal string)"})
    return parsed


def _media_ids(values: list[str]) -> tuple[int, ...]:
    ids = []
    for value in values:
        parsed = parse_snowflake(value)
        if parsed is None:
            raise ValidationFailed({"media_ids": "each must be a medium id (a decimal "
                                                 "string)"}, code="media_not_attachable")
        ids.append(parsed)
    return tuple(ids)


@router.post("/posts", status_code=201, response_model=Post, response_model_exclude_unset=True,
             dependencies=[Depends(rate_limit("posts"))])
async def create_post(body: NewPost, actor: CurrentActor, services: Services,
                      response: Response, request: Request) -> shapes.Post:
    """Publish a post of 1-280 characters; mentions and hashtags are extracted."""
    command = CreatePost(
        actor, body.text, _optional_id(body.reply_to_id, "reply_to_id"),
        _optional_id(body.quote_of_id, "quote_of_id"), body.language,
        _media_ids(body.media_ids),
    )
    result = await execute(services, command, response, request)
    # The answer is the command's own post; the author's public profile comes
    # from the read model (with counts), or, for an account so new that it has
    # not caught up (or when it is unreachable), from the event store.
    author = await counted_account(services, actor.account_id) \
        or account_answer(await written_account(services, actor))
    # The command checked the parent (a non-reply's answer has no reply_to_available).
    return post_answer(cast(PostView, result.data), author, True,
                       services.settings.media_base_url)


@router.get("/posts/{post_id}", response_model=Post, response_model_exclude_unset=True)
async def get_post(post_id: PostId, services: Services, response: Response, reader: OptionalActor,
                   min_position: MinPosition) -> shapes.Post:
    """One post; 404 once deleted."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await post_queries.get_post(services.queries, snowflake_or_404(post_id),
                                       reader.account_id if reader else None)


@router.delete("/posts/{post_id}", status_code=204)
async def delete_post(post_id: PostId, actor: CurrentActor, services: Services,
                      response: Response, request: Request) -> Response:
    """Delete your own post; it leaves every timeline."""
    command = DeletePost(actor, snowflake_or_404(post_id))
    result = await execute(services, command, response, request)
    return Response(status_code=204, headers={"Roost-Position": str(result.position)})


@router.get("/accounts/{username}/posts", response_model=page_of(Post),
            response_model_exclude_unset=True)
async def account_posts(username: Username, services: Services, response: Response, limit: Limit,
                        reader: OptionalActor, min_position: MinPosition,
                        cursor: Cursor = None) -> shapes.Page[shapes.Post]:
    """An account's posts, newest first."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await post_queries.account_posts(services.queries, username,
                                            reader.account_id if reader else None, cursor, limit)
