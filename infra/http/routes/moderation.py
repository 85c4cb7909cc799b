"""Blocks and mutes: one account hiding another (``/api/accounts/{username}/block|mute``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from commands.messages import SetBlock, SetMute
from infra.http.answers import relationship_answer
from infra.http.deps import CurrentActor, Services, Username, execute
from infra.http.schemas import ERROR_RESPONSES, Relationship
from queries import shapes

# Tagged as before the split from the interactions routes, so the published
# OpenAPI document does not change.
router = APIRouter(prefix="/api", tags=["interactions"], responses=ERROR_RESPONSES)


def _edge_route(path: str, command: type[SetBlock] | type[SetMute], active: bool,
                summary: str) -> None:
    async def endpoint(username: Username, actor: CurrentActor, services: Services,
                       response: Response, request: Request) -> shapes.Relationship:
        result = await execute(services, command(actor, username, active), response, request)
        return relationship_answer(result)

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
