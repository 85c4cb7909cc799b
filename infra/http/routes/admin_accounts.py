"""``DELETE /api/admin/accounts/{username}``: erase an account's personal data.

Admin tokens only: ``infra.http.routes.admin.AdminActor``, the role check of every
admin route (``commands.admins.is_admin``, read from the account's events, so a
revoked admin is refused at once: 403 ``not_admin``; 401 without a valid token).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from commands.messages import EraseAccount
from infra.http.deps import Services, Username, as_api_ids, execute
from infra.http.routes.admin import AdminActor
from infra.http.schemas import ERROR_RESPONSES

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
