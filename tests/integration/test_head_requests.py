"""``HEAD`` answers as the ``GET`` of the same URL without its body, through a real
server (uvicorn drops a ``HEAD`` response's body itself; the middleware must not
confuse it): ``infra.http.middleware.HeadAsGetMiddleware``."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
from PIL import Image

from infra import devstack
from infra.bootstrap import build_projections
from infra.http.app import create_app
from infra.media_store import FilesystemMediaStore
from infra.settings import Settings
from tests.integration.apphost import served_app, sign_up
from tests.integration.conftest import SettingsFactory
from tests.integration.pipeline import project_everything

SAME = ("content-type", "content-length", "etag", "cache-control")


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


async def served_upload(client: httpx.AsyncClient, token: str, settings: Settings
                        ) -> str:
    """An upload, projected (no worker runs here) so that its bytes are served; the path
    of its original's bytes."""
    made = await client.post("/api/media", headers={"Authorization": f"Bearer {token}"},
                             files={"file": ("a.jpg", jpeg(), "image/jpeg")})
    assert made.status_code == 201, made.text
    built = await build_projections(settings)
    try:
        await project_everything(built)
    finally:
        await built.close()
    path = str(made.json()["url"])
    assert path.startswith("/api/media/")
    got = await client.get(path)
    assert got.status_code == 200 and got.content, got.text
    return path


def settings_for(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(api_port=devstack.free_port(), min_position_wait_s=0.2,
                            live_keepalive_s=0.2)


async def test_head_has_the_get_status_and_headers_and_no_body(
        settings_factory: SettingsFactory) -> None:
    settings = settings_for(settings_factory)
    async with served_app(settings, create_app(settings)) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as client:
        user = await sign_up(client, "header")
        auth = {"Authorization": f"Bearer {user.token}"}
        media = await served_upload(client, user.token, settings)
        paths = [f"/api/accounts/{user.username}", "/api/accounts/me", media, "/health"]
        for path in paths:
            got = await client.get(path, headers=auth)
            head = await client.head(path, headers=auth)
            assert head.status_code == got.status_code, path
            assert head.content == b"", path
            for name in SAME:
                assert head.headers.get(name) == got.headers.get(name), (path, name)
        # a missing resource and a path with no GET answer as GET would
        assert (await client.head("/api/accounts/nobody_here", headers=auth)).status_code == 404
        refused = await client.head("/api/posts", headers=auth)
        assert refused.status_code == 405
        assert "POST" in refused.headers["allow"]
        # the connection is still good for the next request
        assert (await client.get("/api/accounts/me", headers=auth)).status_code == 200


async def test_head_of_media_bytes_does_not_read_them(
        settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A HEAD of a medium's bytes asks the store for their size, not for the bytes
    (with S3: HeadObject, not a GetObject of up to 16 MiB), and a swept object is 404
    for HEAD as for GET."""
    settings = settings_for(settings_factory)
    async with served_app(settings, create_app(settings)) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as client:
        user = await sign_up(client, "header2")
        path = await served_upload(client, user.token, settings)
        length = (await client.get(path)).headers["content-length"]
        reads: list[str] = []
        read = FilesystemMediaStore.get

        async def counted(store: FilesystemMediaStore, key: str) -> bytes | None:
            reads.append(key)
            return await read(store, key)

        monkeypatch.setattr(FilesystemMediaStore, "get", counted)
        head = await client.head(path)
        assert head.status_code == 200 and head.headers["content-length"] == length
        assert reads == []
        store = FilesystemMediaStore(settings.media_dir)
        await store.delete([o.key for o in await store.list_objects()])
        assert (await client.head(path)).status_code == 404
        assert (await client.get(path)).status_code == 404


async def test_head_on_a_live_stream_answers_its_headers_and_ends_it(
        settings_factory: SettingsFactory) -> None:
    settings = settings_for(settings_factory).model_copy(
        update={"live_max_streams_per_account": 1})
    async with served_app(settings, create_app(settings)) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as client:
        user = await sign_up(client, "streamer")
        auth = {"Authorization": f"Bearer {user.token}"}
        head = await asyncio.wait_for(client.head("/api/streaming/home", headers=auth), 10)
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
        assert head.content == b""
        # the stream ended and gave its slot back (one stream per account here): the
        # next ones are not refused as one too many
        for _ in range(3):
            again = await asyncio.wait_for(
                client.head("/api/streaming/home", headers=auth), 10)
            assert again.status_code == 200, again.headers
