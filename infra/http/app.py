"""The FastAPI application: assembly only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from infra.bootstrap import build_api
from infra.heap import freeze_startup_heap
from infra.http.cors import RoostCors, parse_origins
from infra.http.deps import optional_actor, required_actor
from infra.http.errors import install_error_handlers
from infra.http.hot_home import hot_routes
from infra.http.hygiene import InputHygieneMiddleware
from infra.http.idempotency import IdempotencyMiddleware
from infra.http.json_body import StrictJsonMiddleware
from infra.http.middleware import (
    AnswerHeadersMiddleware,
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    MetricsMiddleware,
)
from infra.http.multipart import MultipartCheckMiddleware
from infra.http.openapi import install_openapi
from infra.http.ratelimit import (
    RateLimitHeadersMiddleware,
    install_rate_limit_handler,
    request_charge,
)
from infra.http.routes import (
    accounts,
    admin,
    admin_accounts,
    graph,
    interactions,
    limits,
    media,
    moderation,
    notifications,
    ops,
    posts,
    search,
    sessions,
    streaming,
    timelines,
    trends,
)
from infra.http.streaming import Renderers
from infra.security import JwtTokens
from infra.settings import Settings, get_settings
from queries.context import QueryContext

API_ROUTERS = (accounts.router, graph.router, sessions.router, posts.router,
               interactions.router, moderation.router, timelines.router, limits.router,
               notifications.router, streaming.router, search.router, trends.router,
               admin.router, admin_accounts.router, media.router)
MEDIA_FORM_ROOM = 1024 * 1024
"""What an upload's body may hold beyond the file: multipart headers, the alt text."""


def create_app(settings: Settings | None = None,
               live_renderers: Callable[[QueryContext], Renderers] | None = None,
               *, freeze_heap: bool = False) -> FastAPI:
    """``live_renderers``: renderers that replace the streams' own for some
    ``(channel, event)`` pairs (``infra.http.streaming.stream_renderers``; tests).
    ``freeze_heap``: once started, freeze the process's heap (``infra.heap``): for a
    server process only, as whatever is alive then is never collected if it later
    becomes cyclic garbage (an app made in a test process would stay in memory)."""
    settings = settings or get_settings()
    tokens = JwtTokens(settings)  # the process's one: its verify cache is shared

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_api(settings, tokens, live_renderers)
        app.state.services = services
        app.state.rate_limiter = services.rate_limiter
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="Roost", version="0.1.0", lifespan=lifespan,
        redirect_slashes=False,  # /api/posts/ is no path of ours: 404, not a 307 elsewhere
        description="An event-sourced social platform. Conventions: see docs/api.md.",
    )
    install_error_handlers(app)
    install_openapi(app, optional_auth=optional_actor, required_auth=required_actor)
    install_rate_limit_handler(app)
    requests_budget = [Depends(request_charge("requests"))]
    for router in API_ROUTERS:
        app.include_router(router, dependencies=requests_budget)
    app.include_router(ops.router)  # health and metrics are never rate limited
    app.router.routes[:0] = hot_routes(settings.api_hot_home)  # before every other
    # The last added runs outermost: metrics, CORS (when ROOST_CORS_ORIGINS), input
    # hygiene, body limit, strict JSON, the multipart check, idempotency, rate-limit
    # headers, HEAD as GET, answer headers, routes.
    app.add_middleware(AnswerHeadersMiddleware)  # Roost-Stale on errors too
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(
        IdempotencyMiddleware, redis=lambda: app.state.services.redis,
        keys_prefix=settings.redis_prefix, tokens=tokens,
        trust_forwarded_for=settings.trust_forwarded_for,
    )
    app.add_middleware(MultipartCheckMiddleware)
    # An upload's body: the file limit plus room for the form's parts and alt text.
    larger_bodies = {"/api/media": (settings.media_max_bytes + MEDIA_FORM_ROOM, "file")}
    app.add_middleware(StrictJsonMiddleware, skip_paths=frozenset(larger_bodies))
    # Starlette spools a file part above 1 MiB to a temporary file (read back through a
    # worker thread): kept, rather than raising MultiPartParser.spool_max_size for the
    # whole process, which would hold every upload's file part in memory beside its
    # body (about twice the body per upload at once) for ~0.1 ms of loop time saved.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       larger=larger_bodies)
    app.add_middleware(InputHygieneMiddleware)
    if origins := parse_origins(settings.cors_origins):  # every answer, errors too
        app.add_middleware(RoostCors, origins=origins)
    app.add_middleware(MetricsMiddleware)
    return app
