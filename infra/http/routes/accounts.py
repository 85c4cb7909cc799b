"""Sign-up, profiles and the current account."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Depends, Request, Response

from commands.messages import RegisterAccount, UpdateProfile
from infra.http.answers import own_account, own_account_answer
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
from ports.projectors import READ_MODELS
from ports.records import OwnProfile
from queries import accounts as account_queries
from queries import shapes

router = APIRouter(prefix="/api/accounts", tags=["accounts"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=Account, response_model_exclude_unset=True,
             dependencies=[Depends(rate_limit("signups"))])
async def sign_up(body: SignUp, services: Services, response: Response, request: Request
                  ) -> shapes.OwnAccount:
    """Create an account; usernames and emails are unique case-insensitively."""
    command = RegisterAccount(body.username, body.email, body.password, body.display_name)
    result = await execute(services, command, response, request)
    return own_account_answer(cast(OwnProfile, result.data))  # counts 0


@router.get("/me", response_model=Account, response_model_exclude_unset=True)
async def me(actor: CurrentActor, services: Services, response: Response,
             min_position: MinPosition) -> shapes.OwnAccount:
    """The authenticated account, with its email."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await own_account(services, actor)


@router.patch("/me", response_model=Account, response_model_exclude_unset=True)
async def update_me(body: ProfilePatch, actor: CurrentActor, services: Services,
                    response: Response, request: Request) -> shapes.OwnAccount:
    """Change profile fields; an omitted field stays, ``null`` clears it."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    result = await execute(services, UpdateProfile(actor, changes), response, request)
    # The profile as this command left it, the counts as the read model has them.
    counted = await account_queries.get_account_by_id(services.queries, actor.account_id)
    return own_account_answer(cast(OwnProfile, result.data), counted)


@router.get("/{username}", response_model=Account, response_model_exclude_unset=True)
async def get_account(username: Username, services: Services, response: Response,
                      min_position: MinPosition) -> shapes.Account:
    """A public profile, looked up case-insensitively."""
    await wait_until_applied(services, response, min_position, READ_MODELS)
    return await account_queries.get_account(services.queries, username)
