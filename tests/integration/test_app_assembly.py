"""The HTTP app's assembly: one token issuer per process.

The command bus issues tokens, and the routes, the rate limiter and the
idempotency middleware verify them; they all use the one ``JwtTokens`` built
by ``create_app``, so a token is verified once per process (its cache is shared)
and a change of how tokens are built is made in one place.
"""

from __future__ import annotations

from typing import Any

from infra.http.app import create_app
from infra.http.idempotency import IdempotencyMiddleware
from infra.security import JwtTokens
from infra.settings import Settings
from tests.integration.apphost import running_app, sign_up


def middleware_of(app: Any, kind: type) -> Any:
    """The instance of ``kind`` in the app's built middleware stack."""
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, kind):
        layer = getattr(layer, "app", None)
    assert layer is not None, f"no {kind.__name__} in the stack"
    return layer


async def test_one_token_issuer_serves_the_bus_the_routes_and_the_middleware(
        settings: Settings) -> None:
    app = create_app(settings)
    async with running_app(settings, app) as client:
        user = await sign_up(client, "issuer")  # through the limiter, the bus, the middleware
        posted = await user.request("POST", "/api/posts", json={"text": "one issuer"},
                                    headers={"Idempotency-Key": "issuer-1"})
        assert posted.status_code == 201, posted.text
        services = app.state.services
        assert isinstance(services.tokens, JwtTokens)
        assert services.bus.context.tokens is services.tokens
        assert middleware_of(app, IdempotencyMiddleware)._tokens is services.tokens
