"""Opaque cursors: what we issue decodes back; anything else is a 422."""

from __future__ import annotations

import base64

import pytest

from domain.errors import ValidationFailed
from domain.ids import MAX_ID
from queries.cursors import decode_cursor, decode_int_cursor, encode_cursor, upper_bound


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("value", [0, 1, 7, 10**17 + 12345, MAX_ID - 1, MAX_ID])
def test_int_cursor_round_trip(value: int) -> None:
    cursor = encode_cursor(value)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_int_cursor(cursor) == value
    assert decode_cursor(cursor) == str(value)


def test_cursor_with_padding_also_decodes() -> None:
    padded = base64.urlsafe_b64encode(b"v1:12").decode()
    assert padded.endswith("=")
    assert decode_int_cursor(padded) == 12


def test_no_cursor_is_none() -> None:
    assert decode_cursor(None) is None
    assert decode_int_cursor(None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "not base64 at all",
        "v1:12",  # not encoded
        b64(b"v2:12"),
        b64(b"v1:"),
        b64(b"v1:abc"),
        b64(b"v1:-5"),
        b64(b"v1:1 "),
        b64(b"v1:1.5"),
        b64(b"v1:" + b"9" * 40),  # too long
        b64(b"\xff\xfe\xfd"),  # not UTF-8
        b64(b"12"),
        "A",  # impossible base64 length
    ],
)
def test_garbage_is_validation_failed_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_int_cursor(cursor)
    assert caught.value.code == "invalid_cursor"
    assert caught.value.status == 422
    assert set(caught.value.details["fields"]) == {"cursor"}


@pytest.mark.parametrize("payload", ["v1:\u00b2", "v1:\u0661\u0662", "v1:\uff11",
                                     "v1:1\u0662"])
def test_non_ascii_digits_are_not_cursors(payload: str) -> None:
    # str.isdigit() accepts these: '\u00b2' would then make int() raise (a 500) and
    # Arabic-Indic digits would be read as 12
    with pytest.raises(ValidationFailed) as caught:
        decode_int_cursor(b64(payload.encode()))
    assert caught.value.code == "invalid_cursor"


def test_a_zero_cursor_is_a_bound_and_no_cursor_is_everything() -> None:
    assert upper_bound(decode_int_cursor(encode_cursor(0))) == 0  # nothing is below 0
    assert upper_bound(decode_int_cursor(None)) == 2**63 - 1
    assert upper_bound(MAX_ID) == MAX_ID
