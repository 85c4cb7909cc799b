"""Every refused class of text, through every field, path, query and read header:
a 4xx in the error format, nothing appended, and the pipeline still projecting."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote_from_bytes

import httpx
import pytest

from infra.http.bounded_protocol import MAX_HEAD_BYTES
from queries.cursors import encode_cursor
from tests.e2e.conftest import User, assert_error, position
from tests.e2e.stack import Stack
from tests.text_samples import REFUSED

CLASSES = sorted(REFUSED)
PROJECTED_WITHIN_S = 1.0


def json_bytes(body: Mapping[str, object]) -> bytes:
    """JSON with every non-ASCII character escaped, so lone surrogates travel as
    ``\\ud800`` (httpx cannot encode them as UTF-8)."""
    return json.dumps(body, ensure_ascii=True).encode()


def pct(text: str) -> str:
    """Percent-encode ``text`` as UTF-8 (a surrogate as its 3 ill-formed bytes)."""
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")


def raw_request(stack: Stack, request_line: bytes, headers: list[bytes]) -> tuple[int, bytes]:
    """Send bytes httpx would refuse to send; the status and body of the answer."""
    host, port = stack.settings.api_host, stack.settings.api_port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(request_line + b"\r\nHost: roost\r\nConnection: close\r\n"
                     + b"".join(h + b"\r\n" for h in headers) + b"\r\n")
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # a server that closed early
            while chunk := sock.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture(scope="module")
def victim(stack: Stack) -> str:
    """An account to address in paths (signed up once for the module)."""
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        name = f"hyg{int(time.time() * 1000) % 10**9}"
        response = client.post("/api/accounts", json={
            "username": name, "email": f"{name}@example.com", "password": "long enough"})
        assert response.status_code == 201, response.text
    return name


@pytest.fixture
def author(signup: Callable[..., User]) -> User:
    return signup("hyg")


def send_json(user: User, method: str, path: str, body: Mapping[str, object]
              ) -> httpx.Response:
    return user.request(method, path, content=json_bytes(body),
                        headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("name", CLASSES)
def test_json_fields_refuse_every_class(author: User, client: httpx.Client,
                                        nothing_appended: None, name: str) -> None:
    ch = REFUSED[name]
    assert_error(send_json(author, "POST", "/api/posts", {"text": f"hello{ch}world"}),
                 422, "validation_failed", "text")
    for field, value in (("display_name", f"Ann{ch}"), ("bio", f"about{ch}me"),
                         ("avatar_url", f"https://example.com/{ch}")):
        assert_error(send_json(author, "PATCH", "/api/accounts/me", {field: value}),
                     422, "validation_failed", field)
    good = {"username": "fresh_name", "email": "fresh@example.com",
            "password": "long enough", "display_name": "Fresh"}
    for field in good:
        body = {**good, field: f"{good[field][:4]}{ch}{good[field][4:]}"}
        response = client.post("/api/accounts", content=json_bytes(body),
                               headers={"Content-Type": "application/json"})
        assert_error(response, 422, "validation_failed", field)
    for field in ("login", "password"):
        body = {"login": author.username, "password": author.password}
        body[field] += ch
        response = client.post("/api/sessions", content=json_bytes(body),
                               headers={"Content-Type": "application/json"})
        assert_error(response, 422, "validation_failed", field)


@pytest.mark.parametrize("name", CLASSES)
def test_path_segments_holding_any_class_are_404(author: User, victim: str,
                                                 nothing_appended: None, name: str) -> None:
    segment = pct(f"nul{REFUSED[name]}")
    for suffix in ("", "/relationship", "/posts", "/followers", "/following"):
        assert_error(author.request("GET", f"/api/accounts/{segment}{suffix}"), 404)
    for method in ("POST", "DELETE"):
        for action in ("follow", "block", "mute"):
            assert_error(author.request(method, f"/api/accounts/{segment}/{action}"), 404)
    for suffix in ("", "/context"):
        assert_error(author.request("GET", f"/api/posts/1{pct(REFUSED[name])}{suffix}"), 404)
    assert_error(author.request("POST", f"/api/posts/1{pct(REFUSED[name])}/like"), 404)
    cursor = pct(encode_cursor(5) + REFUSED[name])
    assert_error(author.request("GET", f"/api/accounts/{victim}/posts?cursor={cursor}"),
                 422, "validation_failed", "cursor")


def test_the_reported_path_is_404_not_500(client: httpx.Client, victim: str) -> None:
    for path in ("/api/accounts/nul%00", "/api/accounts/nul%00/posts",
                 f"/api/accounts/{victim}%00", "/api/accounts/%FF", "/api/posts/%00",
                 "/api/accounts/has%20space", "/api/accounts/" + "a" * 31,
                 "/api/posts/0", "/api/posts/12a"):
        assert_error(client.get(path), 404)


@pytest.mark.parametrize("header", ["Authorization", "Idempotency-Key", "Roost-Min-Position",
                                    "Last-Event-ID"])
@pytest.mark.parametrize("raw", [b"\x01", b"\x1b", b"\x7f", b"\xc2\x85", b"\xef\xbf\xbe",
                                 b"\xef\xb7\x90", b"\xed\xa0\x80", b"\xff"])
def test_read_headers_refuse_every_class(stack: Stack, author: User, nothing_appended: None,
                                         header: str, raw: bytes) -> None:
    body = json.dumps({"text": "never stored"}).encode()
    headers = [f"Authorization: Bearer {author.token}".encode(),
               b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    headers = [h for h in headers if not h.startswith(header.encode() + b":")]
    headers.append(header.encode() + b": 1" + raw + b"2")
    status, answer = raw_request(stack, b"POST /api/posts HTTP/1.1", [*headers, b"", body])
    if status == 400 and raw[0] < 0x80:
        return  # a control byte: refused by the HTTP parser itself, before Roost sees it
    assert status == 422, answer
    error = json.loads(answer.split(b"\r\n\r\n")[-1])["error"]
    assert error["code"] == "validation_failed" and header in error["details"]["fields"]


def test_nul_in_a_header_never_reaches_a_store(stack: Stack, author: User,
                                               nothing_appended: None) -> None:
    status, _ = raw_request(stack, b"GET /api/timelines/home HTTP/1.1",
                            [f"Authorization: Bearer {author.token}".encode(),
                             b"Idempotency-Key: a\x00b"])
    assert 400 <= status < 500


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "9" * 5000, str(2**63), "1_0", "+1",
                                   "0x10", "1e3", "-0"])
def test_min_position_parses_strictly(author: User, value: str) -> None:
    response = author.request("GET", "/api/timelines/home",
                              headers={"Roost-Min-Position": value.encode()})
    assert_error(response, 422, "validation_failed", "Roost-Min-Position")


@pytest.mark.parametrize("url", ["https://[", "https://[::1", "https://example.com:99999/",
                                 "https://example.com/\u0000", "https://exa mple.com/"])
def test_avatar_urls_that_do_not_parse_are_422(author: User, nothing_appended: None,
                                               url: str) -> None:
    assert_error(send_json(author, "PATCH", "/api/accounts/me", {"avatar_url": url}),
                 422, "validation_failed", "avatar_url")


def test_cursor_with_anything_appended_is_422(author: User, victim: str) -> None:
    for suffix in ("\n", "\r\n", "\x00", "\t", "\x85", " ", "A", "==="):
        response = author.request("GET", f"/api/accounts/{victim}/posts",
                                  params={"cursor": encode_cursor(12345) + suffix})
        assert_error(response, 422, field="cursor")


@pytest.mark.parametrize("body", [b'{"text": "\xff"}', b'{"text": "\xed\xa0\x80"}',
                                  b'{"text": "a\\ud800"}', b'{"text": "\\udfff b"}',
                                  b'{"text": "\\u0000"}'])
def test_ill_formed_json_text(author: User, nothing_appended: None, body: bytes) -> None:
    response = author.request("POST", "/api/posts", content=body,
                              headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code,
                 "malformed_json" if response.status_code == 400 else "validation_failed")


def test_newline_and_tab_are_kept_in_post_text_and_bio(author: User) -> None:
    post, _ = author.post("line one\n\tline two")
    assert post["text"] == "line one\n\tline two"
    patched = author.act("PATCH", "/api/accounts/me", json={"bio": "a\nb\tc"}).json()
    assert patched["bio"] == "a\nb\tc"


def test_405_lists_every_method_of_the_path(client: httpx.Client, victim: str) -> None:
    response = client.put(f"/api/accounts/{victim}/follow")
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"POST", "DELETE"}
    response = client.put("/api/posts/123")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "DELETE"}


def test_after_every_refused_class_a_post_is_projected_within_a_second(
    signup: Callable[..., User], stack: Stack
) -> None:
    writer = signup("hygw")
    for ch in REFUSED.values():
        for body in ({"text": f"x{ch}"}, {"display_name": f"x{ch}"}, {"bio": f"x{ch}"},
                     {"avatar_url": f"https://example.com/{ch}"}):
            path, method = ("/api/posts", "POST") if "text" in body else \
                ("/api/accounts/me", "PATCH")
            assert 400 <= send_json(writer, method, path, body).status_code < 500
    response = writer.request("POST", "/api/posts", json={"text": "still standing"})
    assert response.status_code == 201, response.text
    started = time.monotonic()
    home = writer.home(position(response))
    elapsed = time.monotonic() - started
    assert home.status_code == 200 and home.headers.get("Roost-Stale") is None
    assert home.json()["items"][0]["id"] == response.json()["id"]
    assert elapsed < PROJECTED_WITHIN_S, f"projected after {elapsed:.2f}s"


@pytest.mark.parametrize("headers", [
    [b"X-Big: " + b"a" * 40_000],                              # one large header
    [b"X-H%d: v" % i for i in range(8_000)],                   # many small ones
])
def test_a_head_past_the_bound_is_431_in_the_error_format(stack: Stack,
                                                          headers: list[bytes]) -> None:
    status, answer = raw_request(stack, b"GET /api/trends/tags HTTP/1.1", headers)
    assert status == 431
    error = json.loads(answer)["error"]
    assert error["code"] == "headers_too_large"
    assert error["details"]["limit_bytes"] == MAX_HEAD_BYTES


def test_a_long_path_past_the_bound_is_431(stack: Stack) -> None:
    status, _ = raw_request(stack, b"GET /api/trends/tags?x=" + b"9" * 40_000 + b" HTTP/1.1", [])
    assert status == 431


def test_a_head_under_the_bound_is_served(stack: Stack) -> None:
    status, _ = raw_request(stack, b"GET /api/trends/tags HTTP/1.1",
                            [b"X-Big: " + b"a" * 20_000])
    assert status == 200


def test_an_endless_header_is_cut_off_early(stack: Stack) -> None:
    """The server answers and closes long before the client has sent 8 MB: it does not
    hold the header in memory as it grows."""
    host, port = stack.settings.api_host, stack.settings.api_port
    sent = 0
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(b"GET /api/trends/tags HTTP/1.1\r\nHost: roost\r\nX-Big: ")
        try:
            while sent < 8_000_000:
                sock.sendall(b"a" * 65_536)
                sent += 65_536
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert sent < 8_000_000
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_an_encoded_slash_reaches_no_other_route(author: User, victim: str) -> None:
    """``%2F`` in a segment is 404: routing matches the decoded path, so it would
    otherwise be a like (``/api/posts/<id>%2Flike``) or another account's list."""
    post, at = author.post("slash me")
    for method, path in (("POST", f"/api/posts/{post['id']}%2Flike"),
                         ("POST", f"/api/posts/{post['id']}%2flike"),
                         ("GET", f"/api/accounts/{victim}%2Fposts")):
        assert_error(author.request(method, path), 404)
    read = author.request("GET", f"/api/posts/{post['id']}", at)
    assert read.status_code == 200 and read.json()["liked"] is False, read.text


def test_whitespace_around_a_header_value_is_no_part_of_it(author: User, stack: Stack) -> None:
    """RFC 9110 5.5: ``Roost-Min-Position: 0 `` is position 0, and a key sent with a
    trailing space is the same key."""
    token = author.auth["Authorization"].encode()
    status, body = raw_request(stack, b"GET /api/accounts/me HTTP/1.1",
                               [b"Authorization: " + token + b" \t",
                                b"Roost-Min-Position: \t0 \t"])
    assert status == 200, body
    key = f"ws-{time.time_ns()}".encode()
    post = b'{"text": "once"}'
    answers = [raw_request(stack, b"POST /api/posts HTTP/1.1", [
        b"Authorization: " + token, b"Content-Type: application/json",
        b"Content-Length: " + str(len(post)).encode(), b"Idempotency-Key: " + key + pad,
        b"", post]) for pad in (b"", b"  ")]
    assert [status for status, _ in answers] == [201, 201], answers
    assert answers[0][1] == answers[1][1]  # replayed: the same post, appended once


@pytest.mark.parametrize(("request_line", "headers"), [
    (b"FOO /api/posts HTTP/1.1", []),  # a method the parser does not know
    (b"GET /api/accounts/caf\xc3\xa9 HTTP/1.1", []),  # raw UTF-8 in the target
    (b"POST /api/posts HTTP/1.1", [b"Content-Length: -1"]),
    (b"POST /api/posts HTTP/1.1", [b"Content-Length: 2", b"Transfer-Encoding: chunked"]),
    (b"GET /api/rate_limits HTTP/1.1", [b"X-Test: a\x01b"]),  # a control byte in a header
])
def test_a_request_the_server_cannot_read_is_400_in_the_error_format(
        stack: Stack, request_line: bytes, headers: list[bytes]) -> None:
    status, body = raw_request(stack, request_line, headers)
    assert status == 400, body
    error = json.loads(body)["error"]
    assert error["code"] == "malformed_request" and error["message"], error
