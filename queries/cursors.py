"""Opaque page cursors: a versioned, base64url-encoded position in a list."""

from __future__ import annotations

import base64
import binascii
import re

from domain.errors import ValidationFailed

_PREFIX = "v1:"
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
MAX_CURSOR_CHARS = 64
MAX_CURSOR_DIGITS = 37
MAX_POSITION = 2**63 - 1


def encode_cursor(value: int | str) -> str:
    raw = f"{_PREFIX}{value}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The position a cursor names; ``422`` for anything we did not issue.

    Strict: only the base64url alphabet (optional ``=`` padding), canonical
    encoding, the ``v1:`` prefix and ASCII digits. A cursor with anything
    appended (a newline, a control character, a stray letter) does not decode.
    """
    if cursor is None:
        return None
    raw = _strict_b64decode(cursor)
    value = raw[len(_PREFIX):] if raw is not None and raw.startswith(_PREFIX) else ""
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_CURSOR_DIGITS:
        raise ValidationFailed({"cursor": "is not a cursor this API issued"},
                               code="invalid_cursor")
    return value


def _strict_b64decode(cursor: str) -> str | None:
    body = cursor.rstrip("=")
    if len(cursor) > MAX_CURSOR_CHARS or len(cursor) - len(body) not in (0, -len(body) % 4) \
            or not _ALPHABET.fullmatch(body):
        return None
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).decode().rstrip("=") != body:
        return None  # non-canonical trailing bits: not something we issued
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None


def decode_int_cursor(cursor: str | None) -> int | None:
    """The 63-bit position a cursor names; ``422`` for anything else."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    if int(value) > MAX_POSITION:
        raise ValidationFailed({"cursor": "is not a cursor this API issued"},
                               code="invalid_cursor")
    return int(value)


def upper_bound(position: int | None) -> int:
    """An exclusive upper bound for keyset paging: everything when there is no cursor."""
    return MAX_POSITION if position is None else position
