"""``DELETE /api/admin/accounts/{username}``: erase an account's personal data;
``POST`` / ``DELETE /api/admin/accounts/{username}/suspension``: suspend it, lift it.

Admin tokens only: ``infra.http.routes.admin.AdminActor``, the role check of every
admin route (``commands.admins.is_admin``, read from the account's events, so a
revoked admin is refused at once: 403 ``not_admin``; 401 without a valid token).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from commands.messages import EraseAccount, SetSuspension
from infra.http.deps import Services, Username, as_api_ids, execute
from infra.http.routes.admin import AdminActor
from infra.http.schemas import ERROR_RESPONSES, Suspension, SuspensionBody

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERROR_RESPONSES)


@router.delete("/accounts/{username}")
async def erase_account(username: Username, admin: AdminActor, services: Services,
                        response: Response, request: Request) -> dict[str, object]:
    """Erase ``username``'s personal data (see ``commands.erasure``): ``200
    {account_id, rows_rewritten, sessions_ended, already_erased}`` with
    ``Roost-Position`` (the ``AccountErased`` event's); ``404`` for no such account,
    ``403`` (``not_admin``) for a token whose account is not an admin."""
    command = EraseAccount(username=username, requested_by=f"admin:{admin.account_id}")
    result = await execute(services, command, response, request)
    return as_api_ids(result.data)


@router.post("/accounts/{username}/suspension", response_model=Suspension)
async def suspend_account(username: Username, admin: AdminActor, services: Services,
                          response: Response, request: Request,
                          body: Annotated[SuspensionBody | None, Body()] = None
                          ) -> dict[str, Any]:
    """Suspend ``username`` (see ``commands.suspension``): ``200 Suspension`` with
    ``Roost-Position`` (the ``AccountSuspended`` event's, or the account's last event's
    when it already was suspended: idempotent); ``404`` for no such account, ``403``
    (``not_admin``) for a token whose account is not an admin, ``422`` for a bad
    ``reason``."""
    reason = body.reason if body is not None and body.reason is not None else ""
    command = SetSuspension(username=username, active=True, reason=reason,
                            by=f"admin:{admin.account_id}")
    return as_api_ids((await execute(services, command, response, request)).data)


@router.delete("/accounts/{username}/suspension", response_model=Suspension)
async def unsuspend_account(username: Username, admin: AdminActor, services: Services,
                            response: Response, request: Request) -> dict[str, Any]:
    """Lift ``username``'s suspension: ``200 Suspension`` with ``Roost-Position``
    (idempotent, as ``POST``); ``404``, ``403`` as ``POST``."""
    command = SetSuspension(username=username, active=False, by=f"admin:{admin.account_id}")
    return as_api_ids((await execute(services, command, response, request)).data)
