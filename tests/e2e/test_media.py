"""Media end to end: upload, serve, attach, show in timelines, refuse, stop serving.

The flows run once on the filesystem store (the session's stack) and once on the S3
store (a stack of its own whose API writes to an S3-compatible server this module
starts on a free local port, ``tests/s3.py``)."""

from __future__ import annotations

import asyncio
import io
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from infra.media_store import FilesystemMediaStore, S3MediaStore
from ports.media_store import MediaStore
from tests.e2e.conftest import (
    User,
    assert_error,
    position,
    running_stack,
    stack_settings,
    store_position,
    unique_name,
)
from tests.e2e.stack import Stack
from tests.images import GPS_IFD, UNCOMMON, Uncommon, photo, png_header_bomb
from tests.s3 import s3_server

pytestmark = pytest.mark.e2e


@dataclass
class MediaStack:
    stack: Stack
    store: MediaStore
    client: httpx.Client

    def objects(self) -> list[str]:
        return [o.key for o in asyncio.run(self.store.list_objects())]

    def signup(self) -> User:
        username, password = unique_name("m"), "correct horse battery"
        created = self.client.post("/api/accounts", json={
            "username": username, "email": f"{username}@example.com", "password": password})
        assert created.status_code == 201, created.text
        user = User(self.client, username, password)
        user.id = created.json()["id"]
        login = self.client.post("/api/sessions", json={"login": username,
                                                        "password": password})
        user.token = login.json()["access_token"]
        return user


@pytest.fixture(scope="module")
def s3_stack(noida: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Stack, S3MediaStore]]:
    with s3_server() as endpoint:
        bucket = f"roost-e2e-{uuid.uuid4().hex[:10]}"
        keys = {"media_s3_region": "us-east-1", "media_s3_access_key_id": "test",
                "media_s3_secret_access_key": "test"}
        store = S3MediaStore(bucket, endpoint_url=endpoint, prefix="m/", region="us-east-1",
                             access_key_id="test", secret_access_key="test")
        asyncio.run(store.create_bucket())
        settings = stack_settings(**noida, media_s3_bucket=bucket, media_s3_prefix="m/",
                                  media_s3_endpoint_url=endpoint, **keys)
        with running_stack(settings, tmp_path_factory.mktemp("s3-logs")) as running:
            yield running, store


@pytest.fixture(params=["filesystem", "s3"])
def media(request: pytest.FixtureRequest) -> Iterator[MediaStack]:
    if request.param == "filesystem":
        stack: Stack = request.getfixturevalue("stack")
        store: MediaStore = FilesystemMediaStore(Path(stack.settings.media_dir))
    else:
        stack, store = request.getfixturevalue("s3_stack")
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        yield MediaStack(stack, store, client)


def upload(user: User, data: bytes, *, description: str | None = None,
           content_type: str = "image/jpeg", name: str = "photo.jpg") -> httpx.Response:
    form = {"description": description} if description is not None else {}
    return user.request("POST", "/api/media", files={"file": (name, data, content_type)},
                        data=form)


def uploaded(user: User, data: bytes, **kwargs: Any) -> dict[str, Any]:
    response = upload(user, data, **kwargs)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fetch(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    return client.get(url, **kwargs)


def test_an_upload_comes_back_upright_without_exif_in_two_sizes(media: MediaStack) -> None:
    alice = media.signup()
    source = photo(1200, 800, orientation=6)
    assert GPS_IFD in Image.open(io.BytesIO(source)).getexif()
    before = set(media.objects())
    answer = upload(alice, source, description="  a red field\n")
    assert answer.status_code == 201, answer.text
    shown = answer.json()
    assert len(set(media.objects()) - before) == 2  # the two variants
    assert shown["type"] == "image" and shown["description"] == "a red field"
    assert shown["meta"] == {"original": {"width": 800, "height": 1200},
                             "small": {"width": 427, "height": 640}}
    assert len(shown["blurhash"]) == 28
    for url, size in ((shown["url"], (800, 1200)), (shown["preview_url"], (427, 640))):
        served = fetch(media.client, url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert "max-age=86400" in served.headers["cache-control"]
        image = Image.open(io.BytesIO(served.content))
        assert image.size == size and dict(image.getexif()) == {}
        assert b"Roost Test Camera" not in served.content
        etag = served.headers["etag"]
        for matching in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = fetch(media.client, url, headers={"If-None-Match": matching})
            assert again.status_code == 304, matching
            assert again.headers["etag"] == etag and again.content == b""
        assert fetch(media.client, url, headers={"If-None-Match": etag[:-2] + '"'}
                     ).status_code == 200
    read = alice.request("GET", f"/api/media/{shown['id']}", position(answer))
    assert read.status_code == 200 and read.json() == shown


def test_attach_four_show_them_in_timelines_then_delete(media: MediaStack) -> None:
    alice, bob = media.signup(), media.signup()
    bob.follow(alice)
    ids = [uploaded(alice, photo(seed=i), description=f"#{i}")["id"] for i in range(5)]
    too_many = alice.request("POST", "/api/posts", json={"text": "", "media_ids": ids})
    assert_error(too_many, 422, field="media_ids")
    post, at = alice.post("", media_ids=ids[:4])
    assert [m["id"] for m in post["media"]] == ids[:4] and post["text"] == ""
    described = alice.act("PATCH", f"/api/media/{ids[1]}", json={"description": "updated"})
    at = max(at, position(described))
    home = bob.home(at).json()["items"]
    assert [m["id"] for m in home[0]["media"]] == ids[:4]
    assert home[0]["media"][1]["description"] == "updated"
    single = bob.request("GET", f"/api/posts/{post['id']}", at).json()
    assert single["media"] == home[0]["media"]
    url = post["media"][0]["url"]
    assert fetch(media.client, url).status_code == 200
    gone = position(alice.act("DELETE", f"/api/posts/{post['id']}", expect=204))
    assert_error(alice.request("GET", f"/api/media/{ids[0]}", gone), 404, "media_not_found")
    assert fetch(media.client, url).status_code == 404
    assert fetch(media.client, post["media"][0]["preview_url"]).status_code == 404


def test_attaching_refusals(media: MediaStack) -> None:
    alice, bob = media.signup(), media.signup()
    bobs = uploaded(bob, photo(seed=9))["id"]
    mine = uploaded(alice, photo(seed=10))["id"]
    assert_error(alice.request("POST", "/api/posts", json={"text": "x", "media_ids": [bobs]}),
                 422, field="media_ids")
    assert_error(bob.request("PATCH", f"/api/media/{mine}", json={"description": "mine"}),
                 403)
    alice.post("first", media_ids=[mine])
    assert_error(alice.request("POST", "/api/posts", json={"text": "y", "media_ids": [mine]}),
                 422, field="media_ids")
    assert_error(alice.request("POST", "/api/posts", json={"text": " "}), 422, field="text")


REFUSALS: list[tuple[str, Callable[[], bytes], str, int]] = [
    ("pdf as jpeg", lambda: b"%PDF-1.7\n" + b"0" * 5000, "image/jpeg", 415),
    ("truncated", lambda: photo()[:3000], "image/jpeg", 422),
    ("17 MiB", lambda: b"\xff\xd8\xff" + b"\x00" * (17 * 1024 * 1024), "image/jpeg", 413),
    ("bomb", lambda: png_header_bomb(20_000, 20_000), "image/png", 413),
]


@pytest.mark.parametrize("name, make, content_type, status", REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_refused_files_store_nothing(media: MediaStack, name: str, make: Callable[[], bytes],
                                     content_type: str, status: int) -> None:
    alice = media.signup()
    objects, events = media.objects(), store_position(media.stack)
    answer = upload(alice, make(), content_type=content_type)
    assert_error(answer, status, field="file")
    assert media.objects() == objects
    assert store_position(media.stack) == events


def test_a_home_read_answers_while_a_large_upload_is_processed(stack: Stack,
                                                              client: httpx.Client,
                                                              signup: Callable[..., User]
                                                              ) -> None:
    """Processing runs in the pool: reads complete while a 35-megapixel upload is under
    way (with processing on the event loop, none would until it finished)."""
    alice = signup()
    alice.post("before the upload")
    big = photo(7000, 5000, orientation=1, gps=False)
    done = threading.Event()
    result: dict[str, int] = {}

    def send() -> None:
        with httpx.Client(base_url=stack.base_url, timeout=120) as other:
            answer = other.post("/api/media", headers=alice.auth,
                                files={"file": ("big.jpg", big, "image/jpeg")})
            result["status"] = answer.status_code
            done.set()

    sender = threading.Thread(target=send)
    sender.start()
    reads = 0
    while not done.is_set():
        assert alice.home().status_code == 200
        reads += 1 if not done.is_set() else 0
    sender.join()
    assert result["status"] == 201
    assert reads >= 3, f"only {reads} home reads finished during the upload"


def test_media_show_in_notifications_and_search(stack: Stack, signup: Callable[..., User]
                                                ) -> None:
    alice, bob = signup(), signup()
    medium = uploaded(alice, photo(seed=21), description="harbour at dusk")["id"]
    tag = f"roostmedia{uuid.uuid4().hex[:6]}"
    post, at = alice.post(f"@{bob.username} look #{tag}", media_ids=[medium])
    groups = bob.request("GET", "/api/notifications", at).json()["items"]
    mention = next(g for g in groups if g["post"] and g["post"]["id"] == post["id"])
    assert [m["description"] for m in mention["post"]["media"]] == ["harbour at dusk"]
    found = bob.request("GET", "/api/search", at, params={"q": f"#{tag}"}).json()["items"]
    assert [m["id"] for m in found[0]["media"]] == [medium]


@pytest.mark.parametrize("case", UNCOMMON, ids=[c.name for c in UNCOMMON])
def test_less_common_images_are_served_as_8_bit_srgb(stack: Stack, client: httpx.Client,
                                                     signup: Callable[..., User],
                                                     case: Uncommon) -> None:
    """16-bit PNG, CMYK JPEG, palette PNG with transparency, grey+alpha PNG, animated
    GIF: each is stored and served 8-bit RGB(A) at the right sizes, colours kept."""
    alice = signup()
    shown = uploaded(alice, case.make(1000, 700))
    assert shown["meta"] == {"original": {"width": 1000, "height": 700},
                             "small": {"width": 640, "height": 448}}
    for url, size in ((shown["url"], (1000, 700)), (shown["preview_url"], (640, 448))):
        served = fetch(client, url)
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == case.content_type
        case.check(served.content, size)
