"""``POST /api/media`` in this process (no projector): odd bodies are clear 4xx with
nothing stored; a good upload stores exactly its two variants before its event."""

from __future__ import annotations

import asyncio
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


async def test_past_the_processing_bound_an_upload_is_503_and_stores_nothing(
    settings_factory: SettingsFactory,
) -> None:
    """``ROOST_MEDIA_MAX_PENDING=1``: of two uploads at once one is processed, the other
    answered 503 ``overloaded`` with Retry-After at once (the pool is still starting
    its process), and stores nothing; once the first is done uploads go through."""
    settings = settings_factory(min_position_wait_s=0.2, media_max_pending=1)
    async with running_app(settings) as app_client:
        user = await sign_up(app_client, "crowd")
        answers = await asyncio.gather(*(
            user.request("POST", "/api/media",
                         files={"file": ("p.jpg", photo(1200, 800, seed=n), "image/jpeg")})
            for n in range(2)))
        assert sorted(a.status_code for a in answers) == [201, 503], [a.text for a in answers]
        busy = next(a for a in answers if a.status_code == 503)
        error = busy.json()["error"]
        assert error["code"] == "overloaded" and error["details"]["retry_after_s"] >= 1
        assert int(busy.headers["Retry-After"]) == error["details"]["retry_after_s"]
        assert len(objects(settings)) == 2  # the processed upload's two variants only
        again = await user.request("POST", "/api/media", files={
            "file": ("p.jpg", photo(1200, 800, seed=7), "image/jpeg")})
        assert again.status_code == 201, again.text
        assert len(objects(settings)) == 4


async def test_uploads_have_their_own_rate_limit(settings_factory: SettingsFactory) -> None:
    """``ROOST_RATE_LIMIT_MEDIA=2/3600``: a third upload is 429 (action ``media``, with
    Retry-After) and stores nothing; uploads do not spend the ``posts`` budget."""
    settings = settings_factory(min_position_wait_s=0.2, rate_limit_multiplier=1.0,
                                rate_limit_media="2/3600", rate_limit_posts="1/3600")
    async with running_app(settings) as app_client:
        user = await sign_up(app_client, "shutterbug")
        for seed in range(2):
            answer = await user.request("POST", "/api/media", files={
                "file": ("p.jpg", photo(320, 240, seed=seed), "image/jpeg")})
            assert answer.status_code == 201, answer.text
        refused = await user.request("POST", "/api/media", files={
            "file": ("p.jpg", photo(320, 240, seed=9), "image/jpeg")})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["details"]["action"] == "media"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["X-RateLimit-Limit"] == "2"
        assert len(objects(settings)) == 2  # at 320 x 240 the small variant is the original
        post = await user.request("POST", "/api/posts", json={"text": "after two uploads"})
        assert post.status_code == 201, post.text
        rules = (await app_client.get("/api/rate_limits")).json()
        assert {"action": "media", "limit": 2, "window_s": 3600, "scope": "account"} in rules
        assert {"action": "media", "limit": 150, "window_s": 1800, "scope": "ip"} in rules


def form_body(description: bytes, close: bytes = b"--\r\n", seed: int = 1) -> bytes:
    """An upload's body by hand (boundary ``rb0und``): a photo, then ``description``,
    then ``close`` after the last delimiter (``--\\r\\n`` closes it; ``b""`` leaves it
    cut short)."""
    return (b'--rb0und\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"'
            b"\r\nContent-Type: image/jpeg\r\n\r\n" + photo(seed=seed) + b"\r\n--rb0und"
            b'\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
            + description + b"\r\n--rb0und" + close)


FORM = "multipart/form-data; boundary=rb0und"
MALFORMED_FORMS: list[tuple[str, str, bytes]] = [
    ("no boundary", "multipart/form-data", form_body(b"alt")),
    ("not multipart", FORM, b"this is not multipart at all"),
    ("wrong boundary", "multipart/form-data; boundary=other", form_body(b"alt")),
    ("no closing delimiter", FORM, form_body(b"alt", close=b"\r\n")),
    ("cut in the last part", FORM, form_body(b"alt text", close=b"")[:-12]),
    ("cut after the file", FORM, form_body(b"alt").split(b"\r\n--rb0und\r\nContent-D")[0]),
    ("empty", FORM, b""),
    ("part without a name", FORM, form_body(b"alt").replace(b'; name="description"', b"")),
]


@pytest.mark.parametrize("name, content_type, body", MALFORMED_FORMS,
                         ids=[m[0] for m in MALFORMED_FORMS])
async def test_a_multipart_body_that_does_not_parse_is_400_malformed_multipart(
    client: httpx.AsyncClient, settings: Settings, name: str, content_type: str,
    body: bytes,
) -> None:
    """Never ``malformed_json``, and never a 201 that dropped what came after a cut:
    400 ``malformed_multipart`` with a message naming the problem; nothing stored."""
    user = await sign_up(client, f"cut{abs(hash(name)) % 10**8}")
    answer = await user.request("POST", "/api/media", content=body,
                                headers={"Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "malformed_multipart" and error["details"] == {}
    assert error["message"].startswith("the multipart body "), error
    assert objects(settings) == []


async def test_the_form_refusals_name_what_is_wrong(client: httpx.AsyncClient,
                                                    settings: Settings) -> None:
    user = await sign_up(client, "namer")

    async def message(content_type: str, body: bytes) -> str:
        answer = await user.request("POST", "/api/media", content=body,
                                    headers={"Content-Type": content_type})
        assert answer.status_code == 400, answer.text
        return str(answer.json()["error"]["message"])

    assert "boundary" in await message("multipart/form-data", form_body(b"alt"))
    assert "closing delimiter" in await message(FORM, form_body(b"alt", close=b""))
    assert "does not parse" in await message(FORM, b"junk")
    # python-multipart's own words (its states, an offset within a chunk) stay inside
    bad_headers = b"--rb0und\r\nfoo\r\n\r\nabc\r\n--rb0und--\r\n"
    assert await message(FORM, bad_headers) == "the multipart body does not parse: a " \
        "part's headers are malformed or too long (at most 8 'Name: value' lines of at " \
        "most 4,224 bytes, each ending in CRLF)"
    assert await message(FORM, b"garbage") == "the multipart body does not parse: it " \
        "does not start with '--' and the boundary its Content-Type names, or a line " \
        "does not end in CRLF"
    # a text part where the file should be: 422 in the API's words, not pydantic's
    text = await user.request("POST", "/api/media", content=(
        b'--rb0und\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n'
        b"--rb0und--\r\n"), headers={"Content-Type": FORM})
    assert text.status_code == 422, text.text
    assert text.json()["error"]["details"]["fields"] == {
        "file": "must be a file: a part whose Content-Disposition has filename=..."}
    # Starlette's own refusal of a form (a text part over 1 MiB) has the code too
    huge = await user.request("POST", "/api/media", content=form_body(b"a" * (1 << 20 | 1)),
                              headers={"Content-Type": FORM})
    assert (huge.status_code, huge.json()["error"]["code"]) == (400, "malformed_multipart")
    assert objects(settings) == []


@pytest.mark.parametrize("alt", [b"\xff\xfe bad", b"caf\xe9", b"\xc3", b"ok \xed\xa0\x80"])
async def test_a_text_field_that_is_not_utf8_is_422_naming_it(
    client: httpx.AsyncClient, settings: Settings, alt: bytes,
) -> None:
    """Refused, never stored decoded as Latin-1 (``\\xff\\xfe`` as ``ÿþ``)."""
    user = await sign_up(client, f"utf{abs(hash(alt)) % 10**8}")
    for content_type in (FORM, FORM + "; charset=utf-8"):
        answer = await user.request("POST", "/api/media", content=form_body(alt),
                                    headers={"Content-Type": content_type})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "validation_failed"
        assert error["details"]["fields"] == {"description": "must be valid UTF-8 text"}
    assert objects(settings) == []


async def test_a_form_in_another_charset_is_415(client: httpx.AsyncClient,
                                               settings: Settings) -> None:
    """Starlette would decode the text fields in the declared charset (Latin-1 for one
    it does not know): UTF-8 text would be stored altered."""
    user = await sign_up(client, "latin")
    for charset in ("latin-1", "no-such-codec"):
        answer = await user.request("POST", "/api/media", content=form_body("é".encode()),
                                    headers={"Content-Type": f"{FORM}; charset={charset}"})
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "unsupported_media_type"
    assert objects(settings) == []


async def test_a_whole_form_by_hand_is_stored_with_its_text_intact(
    client: httpx.AsyncClient, settings: Settings,
) -> None:
    """The check refuses nothing whole: a closing delimiter without CRLF or with an
    epilogue after it, and UTF-8 text split across the body's chunks."""
    user = await sign_up(client, "byhand")
    alt = "café ÿþ 🐦".encode()
    for seed, close in enumerate((b"--\r\n", b"--", b"--\r\nan epilogue, ignored\r\n")):
        body = form_body(alt, close=close, seed=seed)
        cut = body.index(alt) + 4  # inside the é

        async def chunks(body: bytes = body, cut: int = cut) -> AsyncIterator[bytes]:
            yield body[:cut]
            yield body[cut:]

        answer = await user.request("POST", "/api/media", content=chunks(),
                                    headers={"Content-Type": FORM})
        assert answer.status_code == 201, answer.text
        assert answer.json()["description"] == "café ÿþ 🐦"
    assert len(objects(settings)) == 6
