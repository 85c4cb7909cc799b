"""Follows, follower lists and relationships."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from commands.messages import SetFollow
from infra.http.answers import relationship_answer
from infra.http.deps import (
    CurrentActor,
    Cursor,
    Limit,
    MinPosition,
    OptionalActor,
    Services,
    Username,
    execute,
    wait_until_applied,
)
from infra.http.ratelimit import rate_limit
from infra.http.schemas import ERROR_RESPONSES, Account, Relationship, page_of
from ports.projectors import READ_MODELS
from ports.read_model_reader import FollowDirection
from queries import accounts as account_queries
from queries import shapes

router = APIRouter(prefix="/api/accounts", tags=["graph"], responses=ERROR_RESPONSES)


@router.post("/{username}/follow", response_model=Relationship,
             dependencies=[Depends(rate_limit("follows"))])
async def follow(username: Username, actor: CurrentActor, services: Services, response: Response,
                 request: Request) -> shapes.Relationship:
    """Follow an account (idempotent); their recent posts join your home timeline."""
    result = await execute(services, SetFollow(actor, username, True), response, request)
    return relationship_answer(result)


@router.delete("/{username}/follow", response_model=Relationship)
async def unfollow(username: Username, actor: CurrentActor, services: Services,
                   response: Response, request: Request) -> shapes.Relationship:
    """Stop following (idempotent); their posts leave your home timeline."""
    result = await execute(services, SetFollow(actor, username, False), response, request)
    return relationship_answer(result)


def _follow_list_route(direction: FollowDirection, summary: str) -> None:
    """``GET /api/accounts/{username}/<direction>``: a page of accounts, newest follow
    first (the route is named ``direction``, as the document has it)."""
    async def endpoint(username: Username, services: Services, response: Response,
                       limit: Limit, reader: OptionalActor, min_position: MinPosition,
                       cursor: Cursor = None) -> shapes.Page[shapes.Account]:
        await wait_until_applied(services, response, min_position, READ_MODELS)
        return await account_queries.follow_list(services.queries, username, direction,
                                                 reader.account_id if reader else None,
                                                 cursor, limit)

    endpoint.__doc__ = summary
    router.get(f"/{{username}}/{direction}", response_model=page_of(Account),
               response_model_exclude_unset=True, name=direction)(endpoint)


_follow_list_route("followers", "Accounts following ``username``, newest follow first.")
_follow_list_route("following", "Accounts ``username`` follows, newest follow first.")


@router.get("/{username}/relationship", response_model=Relationship)
async def relationship(username: Username, actor: CurrentActor, services: Services,
                       response: Response, min_position: MinPosition
                       ) -> shapes.Relationship:
    """How the reader and ``username`` are related."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await account_queries.relationship(services.queries, actor.account_id, username)
