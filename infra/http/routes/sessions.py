"""Logging in, refreshing and logging out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from commands.messages import Login, Logout, RefreshSession
from infra.http.deps import CurrentActor, Services, execute
from infra.http.ratelimit import login_attempt, rate_limit
from infra.http.schemas import ERROR_RESPONSES, LoginBody, RefreshBody, TokenPair

router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


@router.post("", response_model=TokenPair, dependencies=[Depends(rate_limit("logins"))])
async def login(body: LoginBody, services: Services, response: Response, request: Request
                ) -> Mapping[str, Any]:
    """Exchange a username or email and a password for an access and a refresh token.

    Failed attempts are counted per login name from an address, and per address,
    and slowed down.
    """
    async with login_attempt(request, body.login):
        result = await execute(services, Login(body.login, body.password), response, request)
    return result.data


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshBody, services: Services, response: Response, request: Request
                  ) -> Mapping[str, Any]:
    """A new token pair; the refresh token presented stops working (presented
    again, it ends the whole session)."""
    result = await execute(services, RefreshSession(body.refresh_token), response, request)
    return result.data


@router.delete("/current", status_code=204)
async def logout(actor: CurrentActor, services: Services, response: Response, request: Request
                 ) -> Response:
    """End this session: its access and refresh tokens stop working."""
    result = await execute(services, Logout(actor), response, request)
    return Response(status_code=204, headers={"Roost-Position": str(result.position)})
