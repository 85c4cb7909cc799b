"""The text rule for everything a client sends, and the edge check that applies it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from domain.accounts import (
    avatar_url_problem,
    bio_problem,
    display_name_problem,
    password_problem,
)
from domain.errors import ValidationFailed
from domain.text import post_text_problem, text_problem
from infra.http.deps import parse_min_position
from infra.http.hygiene import (
    InputHygieneMiddleware,
    header_problems,
    path_is_clean,
    query_problems,
)
from infra.http.text import CleanText, MultilineText
from queries.cursors import decode_int_cursor, encode_cursor
from tests.text_samples import REFUSED

ALLOWED = ["plain", "caf\u00e9", "\u00a0nbsp", "\ufdcf", "\ufdf0", "\ufffd", "\U0001f600",
           "\U0001fffd", "\u200d", "\u00b7", "\u2028", " "]


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_every_refused_class_is_refused_everywhere_in_a_text(name: str) -> None:
    ch = REFUSED[name]
    for text in (ch, f"a{ch}", f"{ch}b", f"a{ch}b"):
        assert text_problem(text) is not None
        assert text_problem(text, multiline=True) is not None


@pytest.mark.parametrize("text", ALLOWED)
def test_ordinary_text_passes(text: str) -> None:
    assert text_problem(text) is None


def test_newline_and_tab_only_where_multiline_allows_them() -> None:
    assert text_problem("a\nb\tc", multiline=True) is None
    assert text_problem("a\nb") is not None
    assert text_problem("a\tb") is not None
    assert text_problem("a\r\nb", multiline=True) is not None


def test_the_reason_names_the_code_point_and_never_echoes_the_text() -> None:
    problem = text_problem("secret\ufffe")
    assert problem is not None and "U+FFFE" in problem and "secret" not in problem


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_account_fields_refuse_every_class(name: str) -> None:
    ch = REFUSED[name]
    assert display_name_problem(f"Ann{ch}") is not None
    assert bio_problem(f"about{ch}me") is not None
    assert password_problem(f"long enough{ch}") is not None
    assert avatar_url_problem(f"https://example.com/{ch}") is not None
    assert post_text_problem(f"post{ch}") is not None


def test_bio_allows_newline_and_tab_display_name_does_not() -> None:
    assert bio_problem("line one\nline\ttwo") is None
    assert display_name_problem("Ann\nLee") is not None
    assert display_name_problem("Ann\tLee") is not None


@pytest.mark.parametrize("url", ["https://[", "https://[::1", "https://example.com:99999/",
                                 "https://example.com:port/", "https://", "https:///path",
                                 "http://example.com/a.png", "https://exa mple.com/",
                                 "https://example.com/\n", "javascript:alert(1)"])
def test_avatar_urls_that_do_not_parse_are_refused_not_raised(url: str) -> None:
    assert avatar_url_problem(url) == "must be an https URL"


@pytest.mark.parametrize("url", ["", "https://example.com/a.png", "https://[::1]/a.png",
                                 "https://example.com:8443/x?y=1#z"])
def test_good_avatar_urls(url: str) -> None:
    assert avatar_url_problem(url) is None


# --- the validated string types -----------------------------------------------------


class Body(BaseModel):
    line: CleanText = ""
    text: MultilineText = ""


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_validated_types_refuse_every_class(name: str) -> None:
    for field in ("line", "text"):
        with pytest.raises(ValidationError) as caught:
            Body.model_validate({field: f"x{REFUSED[name]}"})
        assert caught.value.errors()[0]["loc"] == (field,)


def test_validated_types_accept_what_the_rule_accepts() -> None:
    assert Body.model_validate({"line": "caf\u00e9", "text": "a\nb\tc"}).text == "a\nb\tc"
    with pytest.raises(ValidationError):
        Body.model_validate({"line": "a\nb"})


# --- the edge check: path, query, headers ------------------------------------------


@pytest.mark.parametrize(("raw_path", "clean"), [
    (b"/api/accounts/alice", True),
    (b"/api/accounts/caf%C3%A9", True),
    (b"/api/accounts/nul%00", False),
    (b"/api/accounts/nul%00/posts", False),
    (b"/api/accounts/a%0Ab", False),
    (b"/api/accounts/a%C2%85", False),  # U+0085 (C1)
    (b"/api/accounts/a%EF%BF%BE", False),  # U+FFFE
    (b"/api/accounts/a%ED%A0%80", False),  # an encoded surrogate is not UTF-8
    (b"/api/accounts/a%FF", False),  # not UTF-8
    (b"/api/posts/123%2Flike", False),  # an encoded slash would reach another route
    (b"/api/accounts/alice%2fposts", False),
    (b"/api/accounts/alice%252Fposts", True),  # an encoded %: a segment "alice%2Fposts"
])
def test_paths(raw_path: bytes, clean: bool) -> None:
    assert path_is_clean({"raw_path": raw_path, "path": ""}) is clean


@pytest.mark.parametrize(("query", "problem_field"), [
    (b"", None),
    (b"limit=5&cursor=abc", None),
    (b"q=caf%C3%A9+ok", None),
    (b"cursor=abc%00", "cursor"),
    (b"cursor=abc%0A", "cursor"),
    (b"cursor=%FF", "cursor"),
    (b"cursor=%EF%BF%BF", "cursor"),
    (b"cur%00sor=1", "query"),
])
def test_query_parameters(query: bytes, problem_field: str | None) -> None:
    problems = query_problems(query)
    assert list(problems) == ([problem_field] if problem_field else [])


def test_only_the_headers_roost_reads_are_checked_and_named() -> None:
    headers = [(b"idempotency-key", b"k\xc2\x85"), (b"user-agent", b"\xff"),
               (b"roost-min-position", b"\xc2\xb2"), (b"last-event-id", b"1\x00"),
               (b"authorization", b"Bearer \xff")]
    problems = header_problems(headers)
    assert set(problems) == {"Idempotency-Key", "Last-Event-ID", "Authorization"}
    # U+00B2 is well-formed text: the Roost-Min-Position parse refuses it (below)


def _call(app: Any, scope: dict[str, Any]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _scope(raw_path: bytes = b"/api/x", query: bytes = b"",
           headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": raw_path.decode("latin-1"),
            "raw_path": raw_path, "query_string": query, "headers": headers or []}


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_middleware_answers_404_422_or_passes_through() -> None:
    app = InputHygieneMiddleware(_ok)
    assert _call(app, _scope(b"/api/accounts/nul%00"))[0] == 404
    status, body = _call(app, _scope(query=b"cursor=%00"))
    assert status == 422 and b'"fields":{"cursor"' in body and b"validation_failed" in body
    status, body = _call(app, _scope(headers=[(b"idempotency-key", b"a\x00")]))
    assert status == 422 and b"Idempotency-Key" in body
    assert _call(app, _scope()) == (200, b"ok")


# --- parses of client values -------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "\u00b2", "\u0661", "1_0", "+5", " 5",
                                   "9" * 20, "9" * 5000, str(2**63), ""])
def test_min_position_must_be_ascii_digits_within_63_bits(value: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        asyncio.run(parse_min_position(value))
    assert set(caught.value.details["fields"]) == {"Roost-Min-Position"}


@pytest.mark.parametrize("value", ["0", "7", str(2**63 - 1)])
def test_good_min_positions(value: str) -> None:
    assert asyncio.run(parse_min_position(value)) == int(value)


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\x00", "\t", " ", "\x85", "A", "=", "==="])
def test_a_cursor_with_anything_appended_does_not_decode(suffix: str) -> None:
    cursor = encode_cursor(1234567)
    assert decode_int_cursor(cursor) == 1234567
    with pytest.raises(ValidationFailed):
        decode_int_cursor(cursor + suffix)


def test_non_canonical_cursor_encodings_are_refused() -> None:
    cursor = encode_cursor(12)  # "djE6MTI": the last character carries spare bits
    assert decode_int_cursor(cursor) == 12
    with pytest.raises(ValidationFailed):
        decode_int_cursor(cursor[:-1] + "J")  # same bytes, different spare bits


def test_cursor_beyond_63_bits_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        decode_int_cursor(encode_cursor(2**63))
