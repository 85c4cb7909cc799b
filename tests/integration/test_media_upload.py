"""``POST /api/media`` in this process (no projector): odd bodies are clear 4xx with
nothing stored; a good upload stores exactly its two variants before its event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from infra.media_store import FilesystemMediaStore
from infra.settings import Settings
from tests.images import photo
from tests.integration.apphost import ApiUser, running_app, sign_up
from tests.integration.conftest import SettingsFactory


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    return settings_factory(min_position_wait_s=0.2)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as app_client:
        yield app_client


def objects(settings: Settings) -> list[Path]:
    root = Path(settings.media_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


ODD_BODIES: list[tuple[str, dict[str, object]]] = [
    ("json", {"json": {"file": "x"}}),
    ("no file", {"data": {"description": "alt"}, "files": {"other": ("a", b"x", "text/plain")}}),
    ("empty file", {"files": {"file": ("a.jpg", b"", "image/jpeg")}}),
    ("bad utf-8 alt", {"files": {"file": ("a.jpg", photo(), "image/jpeg"),
                                 "description": (None, b"\xff\xfe\x00bad")}}),
    ("nul in alt", {"files": {"file": ("a.jpg", photo(), "image/jpeg")},
                    "data": {"description": "a\x00b"}}),
    ("long alt", {"files": {"file": ("a.jpg", photo(), "image/jpeg")},
                  "data": {"description": "x" * 1501}}),
    ("two files", {"files": [("file", ("a.jpg", b"%PDF", "image/jpeg")),
                             ("file", ("b.jpg", photo(), "image/jpeg"))]}),
    ("text as file", {"data": {"file": "not a file"}}),
]


@pytest.mark.parametrize("name, body", ODD_BODIES, ids=[b[0] for b in ODD_BODIES])
async def test_odd_bodies_are_clear_4xx_and_store_nothing(
    client: httpx.AsyncClient, settings: Settings, name: str, body: dict[str, object],
) -> None:
    user = await sign_up(client, f"odd{abs(hash(name)) % 10**8}")
    answer = await user.request("POST", "/api/media", **body)
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()["error"]) == {"code", "message", "details"}
    assert objects(settings) == []


async def test_a_content_length_lie_is_cut_at_the_cap(client: httpx.AsyncClient,
                                                      settings: Settings) -> None:
    """A body larger than the cap is refused while being read, whatever Content-Length
    says: the server never holds more than the cap."""
    user = await sign_up(client, "liar")

    async def endless() -> AsyncIterator[bytes]:
        chunk = b"\x00" * (1024 * 1024)
        for _ in range(64):  # 64 MiB offered
            yield chunk

    answer = await user.request("POST", "/api/media", content=endless(), headers={
        "Content-Type": "multipart/form-data; boundary=x", "Content-Length": "100"})
    assert answer.status_code == 413
    assert "file" in answer.json()["error"]["details"]["fields"]
    assert objects(settings) == []


async def test_an_upload_stores_its_two_variants(client: httpx.AsyncClient,
                                                 settings: Settings) -> None:
    user: ApiUser = await sign_up(client, "uploader")
    answer = await user.request("POST", "/api/media",
                                files={"file": ("x.bin", photo(900, 600), "text/plain")})
    assert answer.status_code == 201, answer.text  # the declared type does not matter
    stored = await FilesystemMediaStore(settings.media_dir).list_objects()
    assert len(stored) == 2 and all(o.key.endswith(".jpg") for o in stored)
    assert answer.json()["meta"]["original"] == {"width": 600, "height": 900}
