"""``infra.http.json_body``: what JSON does not have is refused before any handler."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.http.json_body import holds_non_finite, is_json


@pytest.mark.parametrize("body", [
    b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'[1, [2, {"y": NaN}]]',
    b'{"x": 1e999}', b'{"x": -1E400}', b'{"x": 123456789e400}', b"NaN",
])
def test_values_json_does_not_have(body: bytes) -> None:
    assert holds_non_finite(body)


@pytest.mark.parametrize("body", [
    b'{"x": 1.5e300}', b'{"x": 1e-999}', b'{"x": "NaN"}', b'{"NaN": "Infinity 1e999"}',
    b'{"x": 12345678901234567890123}', b"{not json", b"", b"[1, 2", b"\xff\xfe",
    b'{"text": "\\ud800"}',  # a lone surrogate escape: orjson refuses it, json takes it
    b"[" * 100_000,  # too deep for json: FastAPI answers it, not this check
])
def test_plain_json_and_non_json_pass(body: bytes) -> None:
    assert not holds_non_finite(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=20)


@given(json_values)
def test_anything_json_can_carry_passes(value: object) -> None:
    assert not holds_non_finite(json.dumps(value).encode())


@pytest.mark.parametrize(("content_type", "decoded"), [
    (None, False), (b"application/json", True), (b"Application/JSON; charset=utf-8", True),
    (b"application/merge-patch+json", True), (b"text/plain", False),
    (b"multipart/form-data; boundary=x", False), (b"application/x-www-form-urlencoded", False),
])
def test_the_bodies_fastapi_decodes_as_json(content_type: bytes | None, decoded: bool) -> None:
    assert is_json(content_type) is decoded
