"""``DELETE /api/admin/accounts/{username}``: erase an account's personal data.

Admin tokens only. ``require_admin`` below is a STUB that refuses every token
(403 ``admin_only``): the admin role (``roost accounts grant-admin``) is being
built on another branch, and wiring this dependency to it is the merge's job.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from commands.messages import Actor, EraseAccount
from domain.errors import Forbidden
from infra.http.deps import CurrentActor, Services, Username, as_api_ids, execute
from infra.http.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERROR_RESPONSES)


async def require_admin(actor: CurrentActor) -> Actor:
    """The actor, if an admin. STUB until the admin role exists: nobody is.

    Raises:
        Forbidden: ``admin_only`` (403), for every token today.
    """
    raise Forbidden("this route is for admin tokens only", code="admin_only")


Admin = Annotated[Actor, Depends(require_admin)]


@router.delete("/accounts/{username}")
async def erase_account(username: Username, admin: Admin, services: Services,
                        response: Response, request: Request) -> dict[str, object]:
    """Erase ``username``'s personal data (see ``commands.erasure``): ``200
    {account_id, rows_rewritten, sessions_ended, already_erased}`` with
    ``Roost-Position`` (the ``AccountErased`` event's); ``404`` for no such account."""
    command = EraseAccount(username=username, requested_by=f"admin:{admin.account_id}")
    result = await execute(services, command, response, request)
    return as_api_ids(result.data)
