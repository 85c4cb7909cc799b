"""The home timeline's hot path: ``GET /api/timelines/home`` without FastAPI's
per-request machinery, for the requests that need none of it.

A profile of a warm home read (``python -m bench.home_request`` under py-spy, 250 Hz,
3,000 reads; docs/performance.md "The home read's hot path") put about a third of the
app's CPU in FastAPI and Starlette between the middlewares and the route: the route's
dependencies solved (the actor, the services, the page's parameters, the riding charge's
exit stack), the included routers matched, the request-response wrappers. The work
itself -- the charge and token check riding with the timeline's first reads, the
page, the answer -- is a few calls to functions the route also calls.

``HotHomeRoute`` is a Starlette route placed before every other one. It claims a
request (``matches``) only when the request is one the FastAPI route would answer
from its parameters alone, and any other request goes on to the FastAPI route, which
answers it as before, errors included:

* ``GET`` (``HEAD`` too: ``HeadAsGetMiddleware`` has made it a ``GET``) of exactly
  ``/api/timelines/home`` (below the ``root_path``, as FastAPI matches);
* no ``app.dependency_overrides`` (the FastAPI route honours them, this path cannot);
* no ``Roost-Min-Position`` (a read that waits is not charged riding along);
* an ``Authorization: Bearer`` token, read as FastAPI's ``HTTPBearer`` reads it, that
  verifies (an expired or forged one gets the FastAPI route's 401);
* ``limit`` and ``cursor`` that the route's own parameters take (else its 422).

What it claims it answers with the same functions, in the same order: the riding charge
(``infra.http.ratelimit.riding_charge``: a refusal or a revoked token replaces the
page), ``actor_of_token``, ``queries.timelines.home_timeline`` and ``read_response``.
``tests/integration/test_hot_home.py`` sends the same requests to an app with and
without it and compares the answers. ``ROOST_API_HOT_HOME=false`` turns it off.
"""

from __future__ import annotations

from typing import Any

import anyio.lowlevel
from pydantic import TypeAdapter, ValidationError
from starlette._utils import get_route_path
from starlette.datastructures import Headers, QueryParams, URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from domain.errors import ValidationFailed
from infra.http.client_identity import bearer_token
from infra.http.deps import MAX_CURSOR, actor_of_token, parse_limit, read_response
from infra.http.ratelimit import REVOCATION_STATE, riding_charge
from infra.http.services import ApiServices
from infra.http.text import CleanText
from infra.security import InvalidToken
from queries.timelines import home_timeline

HOME_PATH = "/api/timelines/home"
_PAGE = "roost.hot_home_page"  # (token, limit, cursor), left in the scope by ``matches``
_CURSOR: TypeAdapter[str] = TypeAdapter(CleanText)


class HotHomeRoute(BaseRoute):
    """``GET /api/timelines/home`` for a signed-in reader's plain page (the module's
    conditions); every other request falls through to the FastAPI route."""

    path = path_format = HOME_PATH  # the metrics' and tracing's route, as the FastAPI one's

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET" \
                or get_route_path(scope) != HOME_PATH:  # under a root_path, as FastAPI
            return Match.NONE, {}
        page = _plain_page(scope)
        if page is None:
            return Match.NONE, {}
        return Match.FULL, {"route": self, _PAGE: page}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """No name of its own: ``url_for`` finds the FastAPI route's."""
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        token, limit, cursor = scope[_PAGE]
        request = Request(scope, receive)
        services: ApiServices = request.app.state.services
        carrier = Response()  # collects the headers the charge and the page set
        async with riding_charge(request, carrier):
            actor = await actor_of_token(services, token,
                                         scope["state"].get(REVOCATION_STATE))
            page = await home_timeline(services.queries, actor.account_id, cursor, limit)
        # cancelled while the charge was judged (its exit is shielded): answer nothing,
        # as FastAPI does after a shielded dependency exit
        await anyio.lowlevel.checkpoint_if_cancelled()
        await read_response(page, carrier)(scope, receive, send)


def _plain_page(scope: Scope) -> tuple[str, int, str | None] | None:
    """``(token, limit, cursor)`` of a request the hot path may answer, else ``None``."""
    if "roost-min-position" in Headers(scope=scope):
        return None
    token = bearer_token(scope)
    if token is None:
        return None
    app = scope["app"]
    services: ApiServices | None = getattr(app.state, "services", None)
    if services is None or getattr(app, "dependency_overrides", None):
        return None  # not started; or a test replaced a dependency the route uses
    try:
        services.tokens.verify(token)
    except InvalidToken:
        return None
    query = QueryParams(scope["query_string"])  # as FastAPI reads them: the last value
    cursor = query.get("cursor")
    try:
        limit = parse_limit(query.get("limit"))
        if cursor is not None:
            cursor = _CURSOR.validate_python(cursor)
    except (ValidationFailed, ValidationError):
        return None
    if cursor is not None and len(cursor) > MAX_CURSOR:
        return None
    return token, limit, cursor


def hot_routes(enabled: bool) -> list[BaseRoute]:
    """The routes to put before every other (``infra.http.app``): none when disabled."""
    return [HotHomeRoute()] if enabled else []
