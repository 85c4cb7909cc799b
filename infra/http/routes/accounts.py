"""Sign-up, profiles and the current account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from commands.messages import Actor, RegisterAccount, UpdateProfile
from commands.views import account_view
from domain.ids import account_uuid
from infra.http.deps import (
    CurrentActor,
    MinPosition,
    Services,
    Username,
    execute,
    wait_until_applied,
)
from infra.http.ratelimit import rate_limit
from infra.http.schemas import ERROR_RESPONSES, Account, ProfilePatch, SignUp
from infra.http.services import ApiServices
from infra.serialization import rfc3339
from ports.projectors import READ_MODELS
from queries import accounts as account_queries

router = APIRouter(prefix="/api/accounts", tags=["accounts"], responses=ERROR_RESPONSES)
EMPTY_COUNTS = {"followers_count": 0, "following_count": 0, "posts_count": 0}


def shape_new_account(data: dict[str, Any]) -> dict[str, Any]:
    """An account as the write side saw it (counts not projected yet)."""
    return {**data, **EMPTY_COUNTS, "id": str(data["id"]),
            "created_at": rfc3339(data["created_at"])}


async def own_account(services: ApiServices, actor: Actor) -> dict[str, Any]:
    """The reader's own account. The email is never published with events, so it
    comes from the event store (the owner's account only: not a hot path); the
    counts come from the read model once it has the account."""
    store = services.bus.context.store
    account = await run_in_threadpool(store.get_or_none, account_uuid(actor.username))
    found = await account_queries.get_account_by_id(services.queries, actor.account_id)
    if found is None:
        return shape_new_account(account_view(account, with_email=True))
    return {**found, "email": account.email, "display_name": account.display_name,
            "bio": account.bio, "avatar_url": account.avatar_url}


@router.post("", status_code=201, response_model=Account, response_model_exclude_unset=True,
             dependencies=[Depends(rate_limit("signups"))])
async def sign_up(body: SignUp, services: Services, response: Response, request: Request
                  ) -> dict[str, Any]:
    """Create an account; usernames and emails are unique case-insensitively."""
    command = RegisterAccount(body.username, body.email, body.password, body.display_name)
    result = await execute(services, command, response, request)
    return shape_new_account(result.data)


@router.get("/me", response_model=Account, response_model_exclude_unset=True)
async def me(actor: CurrentActor, services: Services, response: Response,
             min_position: MinPosition) -> dict[str, Any]:
    """The authenticated account, with its email."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await own_account(services, actor)


@router.patch("/me", response_model=Account, response_model_exclude_unset=True)
async def update_me(body: ProfilePatch, actor: CurrentActor, services: Services,
                    response: Response, request: Request) -> dict[str, Any]:
    """Change profile fields; an omitted field stays, ``null`` clears it."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    result = await execute(services, UpdateProfile(actor, changes), response, request)
    current = await own_account(services, actor)
    return {**current, **{k: result.data[k] for k in ("display_name", "bio", "avatar_url")}}


@router.get("/{username}", response_model=Account, response_model_exclude_unset=True)
async def get_account(username: Username, services: Services, response: Response,
                      min_position: MinPosition) -> dict[str, Any]:
    """A public profile, looked up case-insensitively."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await account_queries.get_account(services.queries, username)
