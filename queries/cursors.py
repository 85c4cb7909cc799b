"""Opaque page cursors: a versioned, base64url-encoded position in a list."""

from __future__ import annotations

import base64
import binascii

from domain.errors import ValidationFailed

_PREFIX = "v1:"


def encode_cursor(value: int | str) -> str:
    raw = f"{_PREFIX}{value}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The position a cursor names; ``422`` for anything we did not issue."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    value = raw[len(_PREFIX):]
    if not raw.startswith(_PREFIX) or not (value.isascii() and value.isdigit()) or len(raw) > 40:
        raise ValidationFailed({"cursor": "is not a cursor this API issued"},
                               code="invalid_cursor")
    return raw[len(_PREFIX):]


def decode_int_cursor(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    return None if value is None else int(value)


def upper_bound(position: int | None) -> int:
    """An exclusive upper bound for keyset paging: everything when there is no cursor."""
    return 2**63 - 1 if position is None else position
