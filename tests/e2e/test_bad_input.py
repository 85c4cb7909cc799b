"""Every bad request is a clear 4xx in the error format, and appends nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.security import JwtTokens
from tests.e2e.conftest import User, assert_error, store_position
from tests.e2e.stack import Stack
from tests.images import photo


@pytest.fixture
def author(signup: Callable[..., User]) -> User:
    return signup("bad")


@pytest.mark.parametrize(("text", "reason"), [
    ("x" * 281, "281 code points"),
    ("", "empty"),
    ("   \n\t ", "whitespace only"),
    ("é" * 140 + "e\u0301" * 141, "281 after NFC"),
])
def test_post_text_rules(author: User, nothing_appended: None, text: str, reason: str) -> None:
    assert_error(author.request("POST", "/api/posts", json={"text": text}), 422,
                 "validation_failed", "text")


def test_280_code_points_after_nfc_is_accepted(author: User) -> None:
    text = "e\u0301" * 280  # 560 code points before NFC, 280 after
    assert author.request("POST", "/api/posts", json={"text": text}).status_code == 201


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "malformed_json"),
    (b"[1, 2]", 400, "malformed_json"),
    (b"", 400, "malformed_json"),
    (b'"text"', 400, "malformed_json"),
    (b'{"text": "ok", "x": NaN}', 400, "malformed_json"),  # not JSON, though Python's
    (b'{"text": NaN}', 400, "malformed_json"),
    (b'{"text": "ok", "x": [-Infinity]}', 400, "malformed_json"),
    (b'{"text": "ok", "x": {"y": 1e999}}', 400, "malformed_json"),  # beyond a double
    (b'{"text": "ok", "x": 1.5e300, "y": 1e-999}', 201, None),  # within: taken (and ignored)
    (b'{"text": "one", "text": "two"}', 400, "malformed_json"),  # which would be posted?
    ('{"text": "utf-16"}'.encode("utf-16"), 400, "malformed_json"),  # JSON is UTF-8
    ('{"text": "utf-16"}'.encode("utf-16-le"), 400, "malformed_json"),
    (b'{"text": "ok", "x": {"a": 1, "a": 1}}', 400, "malformed_json"),
    (b'{"text": 5}', 422, "validation_failed"),
    (b'{"text": null}', 422, "validation_failed"),
    (b'{"text": "ok", "reply_to_id": 12}', 422, "validation_failed"),
    (b'{"text": "ok", "reply_to_id": "abc"}', 422, "validation_failed"),
    (b'{"text": "ok", "reply_to_id": "123"}', 422, "reference_not_found"),
])
def test_malformed_and_mistyped_bodies(author: User, body: bytes, status: int,
                                       code: str | None, stack: Stack) -> None:
    before = store_position(stack)
    response = author.request("POST", "/api/posts", content=body,
                              headers={"Content-Type": "application/json"})
    if code is None:
        assert response.status_code == status, response.text
        return
    assert_error(response, status, code)
    assert store_position(stack) == before, "a refused request appended events"


def upload_form(description: bytes, close: bytes = b"--\r\n") -> bytes:
    """A ``POST /api/media`` body by hand (boundary ``b0``): a photo and its alt text,
    ``close`` after the last delimiter (``b""``: cut before the closing ``--b0--``)."""
    return (b'--b0\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + photo() + b'\r\n--b0\r\nContent-'
            b'Disposition: form-data; name="description"\r\n\r\n' + description
            + b"\r\n--b0" + close)


@pytest.mark.parametrize(("content_type", "body", "status", "code", "field"), [
    ("multipart/form-data", upload_form(b"alt"), 400, "malformed_multipart", None),
    ("multipart/form-data; boundary=b0", b"not multipart", 400, "malformed_multipart", None),
    ("multipart/form-data; boundary=b0", upload_form(b"alt", close=b""), 400,
     "malformed_multipart", None),
    ("multipart/form-data; boundary=b0", upload_form(b"\xff\xfe bad"), 422,
     "validation_failed", "description"),
    ("multipart/form-data; boundary=b0; charset=latin-1", upload_form(b"caf\xe9"), 415,
     "unsupported_media_type", None),
], ids=["no boundary", "not multipart", "no closing delimiter", "alt not utf-8", "latin-1"])
def test_broken_upload_forms(stack: Stack, author: User, nothing_appended: None,
                             content_type: str, body: bytes, status: int, code: str,
                             field: str | None) -> None:
    """Never ``malformed_json``, never a 201 that dropped the alt text after a cut or
    stored it decoded as Latin-1: nothing appended, no object stored."""
    media = Path(stack.settings.media_dir)
    before = sorted(media.rglob("*")) if media.exists() else []
    assert_error(author.request("POST", "/api/media", content=body,
                                headers={"Content-Type": content_type}),
                 status, code, field)
    assert (sorted(media.rglob("*")) if media.exists() else []) == before


@pytest.mark.parametrize(("content_type", "says"), [
    ("text/plain", "Content-Type: application/json"),  # JSON, but not sent as JSON
    ("application/json", "not valid JSON"),  # a raw control character in a string
])
def test_a_refused_json_body_says_why(author: User, nothing_appended: None,
                                      content_type: str, says: str) -> None:
    body = b'{"text": "ok"}' if content_type == "text/plain" else b'{"text": "a\x01b"}'
    answer = author.request("POST", "/api/posts", content=body,
                            headers={"Content-Type": content_type})
    assert_error(answer, 400, "malformed_json")
    assert says in answer.json()["error"]["message"], answer.text


def test_oversized_body(author: User, nothing_appended: None) -> None:
    huge = b'{"text": "' + b"a" * 200_000 + b'"}'
    assert_error(author.request("POST", "/api/posts", content=huge,
                                headers={"Content-Type": "application/json"}),
                 413, "body_too_large")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer garbage", "Basic abc",
                                    "Bearer " + "a.b.c"])
def test_missing_or_garbage_token(client: httpx.Client, nothing_appended: None,
                                  header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    assert_error(client.post("/api/posts", json={"text": "hi"}, headers=headers), 401)


def test_expired_token(stack: Stack, author: User, client: httpx.Client,
                       nothing_appended: None) -> None:
    expired_settings = stack.settings.model_copy(update={"access_token_ttl_s": -10})
    token = JwtTokens(expired_settings).access_token(int(author.id), author.username, "0" * 32)
    response = client.post("/api/posts", json={"text": "hi"},
                           headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "token_expired")


def test_unknown_account_and_self_follow(author: User, nothing_appended: None) -> None:
    assert_error(author.request("POST", "/api/accounts/nobody_here_x/follow"), 404,
                 "account_not_found")
    assert_error(author.request("POST", f"/api/accounts/{author.username}/follow"), 422,
                 "cannot_follow_self")
    assert_error(author.client.get("/api/accounts/nobody_here_x"), 404)


def test_cannot_delete_someone_elses_post(signup: Callable[..., User], stack: Stack) -> None:
    owner, other = signup("own"), signup("oth")
    post, at = owner.post("mine")
    before = store_position(stack)
    assert_error(other.request("DELETE", f"/api/posts/{post['id']}"), 403, "not_author")
    assert_error(other.request("DELETE", "/api/posts/99999999999"), 404)
    assert_error(other.request("DELETE", "/api/posts/not-a-number"), 404)
    assert_error(other.request("DELETE", f"/api/posts/{2**63}"), 404)
    assert store_position(stack) == before
    assert owner.request("GET", f"/api/posts/{post['id']}", at).status_code == 200


def test_duplicate_username_any_case_and_email(signup: Callable[..., User],
                                               client: httpx.Client, stack: Stack) -> None:
    taken = signup("dup")
    before = store_position(stack)
    again = client.post("/api/accounts", json={
        "username": taken.username.upper(), "email": "fresh@example.com",
        "password": "long enough"})
    assert_error(again, 409, "username_taken")
    email = client.post("/api/accounts", json={
        "username": taken.username + "x", "email": f"{taken.username.upper()}@EXAMPLE.COM",
        "password": "long enough"})
    assert_error(email, 409, "email_taken")
    assert store_position(stack) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"username": "has space", "email": "a@example.com", "password": "long enough"},
     "username"),
    ({"username": "x" * 31, "email": "a@example.com", "password": "long enough"}, "username"),
    ({"username": "me", "email": "a@example.com", "password": "long enough"}, "username"),
    ({"username": "okname", "email": "not-an-email", "password": "long enough"}, "email"),
    ({"username": "okname", "email": "a@example.com", "password": "short"}, "password"),
    ({"username": "okname", "email": "a@example.com"}, "password"),
    ({"username": 5, "email": "a@example.com", "password": "long enough"}, "username"),
])
def test_sign_up_validation(client: httpx.Client, nothing_appended: None,
                            body: dict[str, Any], field: str) -> None:
    assert_error(client.post("/api/accounts", json=body), 422, "validation_failed", field)


def test_every_bad_field_is_named_at_once(author: User, client: httpx.Client,
                                          nothing_appended: None) -> None:
    """The rules the commands check beyond the schema's (an email address, an avatar
    URL) are checked with the other fields, so one 422 names them all."""
    error = assert_error(client.post("/api/accounts", json={
        "username": "!", "email": "x", "password": "1"}), 422, "validation_failed")
    assert set(error["details"]["fields"]) == {"username", "email", "password"}, error
    error = assert_error(author.request("PATCH", "/api/accounts/me", json={
        "display_name": "\u0000", "bio": "b" * 501, "avatar_url": "http://x"}), 422)
    assert set(error["details"]["fields"]) == {"display_name", "bio", "avatar_url"}, error


def test_login_failures_do_not_reveal_accounts(author: User, client: httpx.Client) -> None:
    wrong = client.post("/api/sessions", json={"login": author.username, "password": "nope1234"})
    unknown = client.post("/api/sessions", json={"login": "ghost_zz", "password": "nope1234"})
    assert assert_error(wrong, 401, "invalid_credentials")["message"] == \
        assert_error(unknown, 401, "invalid_credentials")["message"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": -1}, {"limit": "ten"},
                                    {"limit": "1.0"}, {"limit": "+5"}, {"limit": " 5"},
                                    {"limit": "5 "}, {"limit": "1e2"}, {"limit": "\u0665"},
                                    {"cursor": "garbage!"}, {"cursor": "djE6YWJj"}])
def test_bad_paging(author: User, params: dict[str, Any]) -> None:
    assert_error(author.home(**params), 422)


def test_limit_is_clamped(author: User) -> None:
    assert author.home(limit=1000).status_code == 200
    assert author.home(limit=10**30).status_code == 200
    assert author.home().status_code == 200  # 20 by default


@pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
def test_bad_min_position(author: User, value: str) -> None:
    response = author.request("GET", "/api/timelines/home",
                              headers={"Roost-Min-Position": value})
    assert_error(response, 422, "validation_failed", "Roost-Min-Position")


def test_bad_profile_patch(author: User, nothing_appended: None) -> None:
    assert_error(author.request("PATCH", "/api/accounts/me",
                                json={"avatar_url": "http://insecure.example/a.png"}),
                 422, "validation_failed", "avatar_url")
    assert_error(author.request("PATCH", "/api/accounts/me", json={"bio": "b" * 501}),
                 422, "validation_failed", "bio")


def test_profile_text_is_stored_normalised(author: User) -> None:
    """Display names and bios follow the text rules of posts: NFC, trimmed, something
    visible (or nothing); a display name holds no bidirectional override."""
    answer = author.request("PATCH", "/api/accounts/me", json={
        "display_name": "  Cafe\u0301  ", "bio": "\n  line one\n  "})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["display_name"], answer.json()["bio"]) == ("Caf\u00e9", "line one")
    assert author.request("PATCH", "/api/accounts/me", json={"bio": "   "}).json()["bio"] == ""
    for name in ("\u200b", "\u3164 ", "evil\u202eexe.txt"):
        assert_error(author.request("PATCH", "/api/accounts/me", json={"display_name": name}),
                     422, "validation_failed", "display_name")
    assert author.request("GET", "/api/accounts/me").json()["display_name"] == "Caf\u00e9"
    # the limits count the value as sent (the document's maxLength is exact), 50 and 500
    fits = author.request("PATCH", "/api/accounts/me", json={
        "display_name": " " + "e\u0301" * 24 + " ", "bio": "\u00e9" * 500})
    assert fits.status_code == 200, fits.text
    assert fits.json()["display_name"] == "\u00e9" * 24 and fits.json()["bio"] == "\u00e9" * 500
    for field, limit in (("display_name", 50), ("bio", 500)):
        assert_error(author.request("PATCH", "/api/accounts/me",
                                    json={field: "x" * (limit - 1) + "  "}),
                     422, "validation_failed", field)


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/posts/", "/api/accounts/%2F", "/api/accounts/x/",
                                  "/api/timelines/home/"])
def test_a_path_that_is_not_ours_is_404_not_a_redirect(author: User, path: str) -> None:
    assert_error(author.request("GET", path), 404)
