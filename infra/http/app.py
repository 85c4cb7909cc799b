"""The FastAPI application: assembly only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from infra.bootstrap import build_async_redis, build_command_bus
from infra.database import open_pool
from infra.http.errors import install_error_handlers
from infra.http.middleware import BodyLimitMiddleware, MetricsMiddleware
from infra.http.routes import accounts, graph, ops, posts, sessions, timelines
from infra.http.services import ApiServices
from infra.redis_keys import RedisKeys
from infra.security import JwtTokens
from infra.settings import Settings, get_settings
from queries.context import QueryContext


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings)
        redis = build_async_redis(settings)
        keys = RedisKeys(settings.redis_prefix)
        bus = build_command_bus(settings)
        app.state.services = ApiServices(
            settings=settings, bus=bus, queries=QueryContext(pool, redis, keys),
            tokens=JwtTokens(settings), pool=pool, redis=redis, keys=keys,
        )
        try:
            yield
        finally:
            bus.context.store.close()
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        title="Roost", version="0.1.0", lifespan=lifespan,
        description="An event-sourced social platform. Conventions: see docs/api.md.",
    )
    install_error_handlers(app)
    for router in (accounts.router, graph.router, sessions.router, posts.router,
                   timelines.router, ops.router):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    return app
