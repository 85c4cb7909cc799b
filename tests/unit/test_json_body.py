"""``infra.http.json_body``: what JSON does not have, and a member name twice, are refused
before any handler."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.http.json_body import (
    DUPLICATE_NAME,
    NON_FINITE,
    NOT_UTF8,
    NUL_BYTE,
    is_json,
    json_refusal,
)


@pytest.mark.parametrize("body", [
    b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'[1, [2, {"y": NaN}]]',
    b'{"x": 1e999}', b'{"x": -1E400}', b'{"x": 123456789e400}', b"NaN",
])
def test_values_json_does_not_have(body: bytes) -> None:
    assert json_refusal(body) == NON_FINITE


@pytest.mark.parametrize("body", [
    b'{"x": 1.5e300}', b'{"x": 1e-999}', b'{"x": "NaN"}', b'{"NaN": "Infinity 1e999"}',
    b'{"x": 12345678901234567890123}', b"{not json", b"", b"[1, 2",
    b'{"text": "\\ud800"}',  # a lone surrogate escape: orjson refuses it, json takes it
    b"[" * 100_000,  # too deep for json: FastAPI answers it, not this check
])
def test_plain_json_and_non_json_pass(body: bytes) -> None:
    assert json_refusal(body) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children), max_leaves=20)


@given(json_values)
def test_anything_json_can_carry_passes(value: object) -> None:
    assert json_refusal(json.dumps(value).encode()) is None


@pytest.mark.parametrize(("body", "name"), [
    (b'{"text": "a", "text": "b"}', "text"),
    (b'{"text": "a", "x": {"k": 1, "k": 1}}', "k"),  # nested, even with equal values
    (b'[{"a": 1}, {"b": 2, "b": 2}]', "b"),
    (rb'{"\u0074ext": "a", "text": "b"}', "text"),  # an escape spells the same name
])
def test_a_member_name_twice_in_one_object(body: bytes, name: str) -> None:
    assert json_refusal(body) == DUPLICATE_NAME.format(name=json.dumps(name))


@given(st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=5),
       st.data())
def test_any_object_with_a_repeated_name_is_refused(members: dict[str, int],
                                                    data: st.DataObject) -> None:
    repeated = data.draw(st.sampled_from(sorted(members)))
    pairs = [json.dumps(k) + ": " + str(v) for k, v in members.items()]
    pairs.insert(data.draw(st.integers(0, len(pairs))), json.dumps(repeated) + ": 0")
    body = ("{" + ", ".join(pairs) + "}").encode()
    assert json_refusal(body) == DUPLICATE_NAME.format(name=json.dumps(repeated))


@pytest.mark.parametrize(("content_type", "decoded"), [
    (None, False), (b"application/json", True), (b"Application/JSON; charset=utf-8", True),
    (b"application/merge-patch+json", True), (b"text/plain", False),
    (b"application/json\xa0", True), (b"application/json\x85", True),  # email.message strips
    (b" application/json ; charset=utf-8", True), (b"", False),
    (b"multipart/form-data; boundary=x", False), (b"application/x-www-form-urlencoded", False),
])
def test_the_bodies_fastapi_decodes_as_json(content_type: bytes | None, decoded: bool) -> None:
    assert is_json(content_type) is decoded


@pytest.mark.parametrize("body", [
    '{"text": "u16"}'.encode("utf-16"), '{"text": "u16"}'.encode("utf-16-le"),
    '{"text": "u32"}'.encode("utf-32"), b'{"text": "\xe9"}', b"\xff\xfe",
])
def test_a_body_that_is_not_utf8(body: bytes) -> None:
    assert json_refusal(body) in (NOT_UTF8, NUL_BYTE)


def test_a_raw_nul_is_named() -> None:
    assert json_refusal(b'{"text": "a\x00b"}') == NUL_BYTE


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    assert json_refusal('\ufeff{"text": "bom"}'.encode()) is None
    assert json_refusal('\ufeff{"a": 1, "a": 2}'.encode()) == DUPLICATE_NAME.format(name='"a"')


@pytest.mark.parametrize("body", [
    b'{"a": "x\\":b", ":b": 1, ":b": 2}',  # a value that looks like a name before it
    b'{"a": "x", ":b": 1, "y": "z", ":b": 2}',
    b'{"list": [{"k": 1}, {"k": 2, "k": 3}]}',  # the same name in two objects, then twice
    b'{"text": "a", "t\\u0065xt": "b"}',  # an escape spells the same name
])
def test_a_repeated_name_hidden_among_strings_is_found(body: bytes) -> None:
    assert json_refusal(body) is not None and "two members" in str(json_refusal(body))


@pytest.mark.parametrize("body", [
    b'{"list": [{"k": 1}, {"k": 2}]}',  # one name in two objects is no duplicate
    b'{"a": "\\"a\\":"}',  # a value holding what looks like a member
])
def test_names_that_repeat_only_across_objects_pass(body: bytes) -> None:
    assert json_refusal(body) is None
