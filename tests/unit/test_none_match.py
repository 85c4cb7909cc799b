"""``If-None-Match`` against a medium's ETag (RFC 9110 13.1.2)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from infra.http.routes.media import none_match

ETAG = '"3f2a9c"'


def test_what_matches() -> None:
    assert none_match(ETAG, ETAG)
    assert none_match(f"W/{ETAG}", ETAG)  # weak comparison
    assert none_match(f'"a", {ETAG} ,"b"', ETAG)
    assert none_match("*", ETAG)
    assert none_match(" * ", ETAG)


def test_what_does_not() -> None:
    assert not none_match(None, ETAG)
    assert not none_match("", ETAG)
    assert not none_match('"3f2a9"', ETAG)  # a prefix is another tag
    assert not none_match('"x3f2a9c"', ETAG)  # so is a string that holds it
    assert not none_match("3f2a9c", ETAG)  # unquoted
    assert not none_match(f"w/{ETAG}", ETAG)  # W/ is case-sensitive


@given(st.text(max_size=200))
def test_any_header_is_answered_without_error(header: str) -> None:
    assert isinstance(none_match(header, ETAG), bool)
