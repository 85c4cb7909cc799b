"""Likes, reposts and threads (blocks and mutes: ``infra.http.routes.moderation``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from commands.messages import SetLike, SetRepost
from infra.http.answers import interaction_answer
from infra.http.deps import (
    POSITION_HEADER,
    CurrentActor,
    MinPosition,
    OptionalActor,
    PostId,
    Services,
    execute,
    snowflake_or_404,
    wait_until_applied,
)
from infra.http.ratelimit import rate_limit
from infra.http.schemas import ERROR_RESPONSES, Post, Thread
from ports.projectors import READ_MODELS
from queries import posts as post_queries
from queries import shapes

router = APIRouter(prefix="/api", tags=["interactions"], responses=ERROR_RESPONSES)


def _interaction_route(action: str, command: type[SetLike] | type[SetRepost], active: bool,
                       summary: str) -> None:
    """Register POST (``active``) or DELETE on ``/posts/{post_id}/<action>``."""

    async def endpoint(post_id: PostId, actor: CurrentActor, services: Services,
                       response: Response, request: Request) -> Any:
        target = snowflake_or_404(post_id)
        result = await execute(services, command(actor, target, active), response, request)
        post = await interaction_answer(services, response, result, actor.account_id)
        if post is None:  # an undo the reader may no longer see (blocked or deleted)
            return Response(status_code=204, headers={POSITION_HEADER: str(result.position)})
        return post

    endpoint.__doc__ = summary
    limited = [Depends(rate_limit(f"{action}s"))] if active else []
    method = router.post if active else router.delete
    undone = {"description": "Undone; the reader may no longer see the post "
                             "(deleted, or a block either way)"}
    extra: dict[int | str, dict[str, Any]] = {} if active else {204: undone}
    method(f"/posts/{{post_id}}/{action}", response_model=Post,
           response_model_exclude_unset=True, dependencies=limited, responses=extra,
           name=f"{'' if active else 'un'}{action}")(endpoint)


_interaction_route("like", SetLike, True, "Like a post (idempotent).")
_interaction_route("like", SetLike, False, "Take a like back (idempotent).")
_interaction_route("repost", SetRepost, True, "Repost to your followers (idempotent).")
_interaction_route("repost", SetRepost, False, "Undo a repost (idempotent).")


@router.get("/posts/{post_id}/context", response_model=Thread,
            response_model_exclude_unset=True)
async def context(post_id: PostId, services: Services, response: Response, reader: OptionalActor,
                  min_position: MinPosition) -> shapes.Thread:
    """The thread around a post: ancestors root first, descendants depth-first."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await post_queries.thread(services.queries, snowflake_or_404(post_id),
                                     reader.account_id if reader else None)
