"""The real HTTP app in this process, with its lifespan, and no projector running.

With nothing projecting, the read models lag behind every write for as long
as a test lasts: exactly the state in which a write must still answer from
its own result.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from infra.http.app import create_app
from infra.settings import Settings

PASSWORD = "correct horse battery"


class ApiUser:
    """A signed-up, logged-in account, driving the in-process app."""

    def __init__(self, client: httpx.AsyncClient, username: str, token: str, id_: str) -> None:
        self.client, self.username, self.token, self.id = client, username, token, id_

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)


@asynccontextmanager
async def served_app(settings: Settings, app: FastAPI | None = None) -> AsyncIterator[str]:
    """The app (built from ``settings``) served by uvicorn on ``settings.api_port`` in
    this process, for streams a client reads as they come; yields its base URL."""
    import uvicorn

    from tests.integration.conftest import wait_until

    server = uvicorn.Server(uvicorn.Config(
        app or create_app(settings), host="127.0.0.1", port=settings.api_port,
        log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(lambda: server.started, message="uvicorn started")
        yield f"http://127.0.0.1:{settings.api_port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def running_app(settings: Settings, app: FastAPI | None = None
                      ) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app (built from ``settings``), lifespan started."""
    app = app or create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://roost.test", timeout=30) as client:
        yield client


async def sign_up(client: httpx.AsyncClient, username: str) -> ApiUser:
    made = await client.post("/api/accounts", json={
        "username": username, "email": f"{username}@example.com", "password": PASSWORD})
    assert made.status_code == 201, made.text
    login = await client.post("/api/sessions", json={"login": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return ApiUser(client, username, login.json()["access_token"], made.json()["id"])
