"""Likes, reposts, threads, blocks and mutes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from commands.messages import SetBlock, SetLike, SetMute, SetRepost
from infra.http.deps import (
    CurrentActor,
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
from infra.http.schemas import ERROR_RESPONSES, Post, Relationship, Thread
from infra.http.services import ApiServices
from queries import posts as post_queries

router = APIRouter(prefix="/api", tags=["interactions"], responses=ERROR_RESPONSES)


async def _post_after(services: ApiServices, response: Response, position: int, post_id: int,
                      reader_id: int, flag: str, value: bool) -> dict[str, Any]:
    """The post as the reader now sees it: read once the read models include the
    write (bounded wait, ``Roost-Stale`` on timeout), with the reader's flag set."""
    await wait_until_applied(services, response, position, "read_models")
    post = await post_queries.get_post(services.queries, post_id, reader_id)
    post[flag] = value
    return post


def _interaction_route(action: str, command: type[SetLike] | type[SetRepost], flag: str,
                       active: bool, summary: str) -> None:
    """Register POST (``active``) or DELETE on ``/posts/{post_id}/<action>``."""

    async def endpoint(post_id: PostId, actor: CurrentActor, services: Services,
                       response: Response) -> dict[str, Any]:
        target = snowflake_or_404(post_id)
        result = await execute(services, command(actor, target, active), response)
        return await _post_after(services, response, result.position, target,
                                 actor.account_id, flag, active)

    endpoint.__doc__ = summary
    limited = [Depends(rate_limit(f"{action}s"))] if active else []
    method = router.post if active else router.delete
    method(f"/posts/{{post_id}}/{action}", response_model=Post,
           response_model_exclude_unset=True, dependencies=limited,
           name=f"{'' if active else 'un'}{action}")(endpoint)


_interaction_route("like", SetLike, "liked", True, "Like a post (idempotent).")
_interaction_route("like", SetLike, "liked", False, "Take a like back (idempotent).")
_interaction_route("repost", SetRepost, "reposted", True,
                   "Repost to your followers (idempotent).")
_interaction_route("repost", SetRepost, "reposted", False, "Undo a repost (idempotent).")


@router.get("/posts/{post_id}/context", response_model=Thread,
            response_model_exclude_unset=True)
async def context(post_id: PostId, services: Services, response: Response, reader: OptionalActor,
                  min_position: MinPosition) -> dict[str, Any]:
    """The thread around a post: ancestors root first, descendants depth-first."""
    await wait_until_applied(services, response, min_position, "read_models")
    return await post_queries.thread(services.queries, snowflake_or_404(post_id),
                                     reader.account_id if reader else None)


def _edge_route(path: str, command: type[SetBlock] | type[SetMute], active: bool,
                summary: str) -> None:
    async def endpoint(username: Username, actor: CurrentActor, services: Services,
                       response: Response) -> dict[str, Any]:
        return (await execute(services, command(actor, username, active), response)).data

    endpoint.__doc__ = summary
    method = router.post if active else router.delete
    method(path, response_model=Relationship, name=f"{'' if active else 'un'}"
           f"{command.__name__.removeprefix('Set').lower()}")(endpoint)


_edge_route("/accounts/{username}/block", SetBlock, True,
            "Block an account: ends follows both ways and hides each from the other.")
_edge_route("/accounts/{username}/block", SetBlock, False, "Lift a block.")
_edge_route("/accounts/{username}/mute", SetMute, True,
            "Mute an account: its posts and reposts leave your home timeline.")
_edge_route("/accounts/{username}/mute", SetMute, False, "Unmute an account.")
