"""Errors raised by domain rules and command handlers.

    RoostError
    ├── ValidationFailed   a field is wrong (422)
    ├── Unauthorized       no valid credentials (401)
    ├── Forbidden          not allowed for this account (403)
    ├── NotFound           no such resource (404)
    └── Conflict           clashes with existing state (409)

The HTTP layer maps each to its status; the ``code`` is the stable,
machine-readable part of the error body.
"""

from __future__ import annotations

from typing import Any


class RoostError(Exception):
    """Base of every error a client can cause."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details


class ValidationFailed(RoostError):
    """One or more fields are invalid; ``details['fields']`` names them."""

    status = 422
    code = "validation_failed"

    def __init__(self, fields: dict[str, str], *, code: str | None = None) -> None:
        message = "; ".join(f"{name}: {reason}" for name, reason in fields.items())
        super().__init__(message, code=code, fields=fields)


class Unauthorized(RoostError):
    status = 401
    code = "unauthorized"


class Forbidden(RoostError):
    status = 403
    code = "forbidden"


class NotFound(RoostError):
    status = 404
    code = "not_found"


class Conflict(RoostError):
    status = 409
    code = "conflict"


class AccountErased(Unauthorized):
    """Personal data was about to be written for an account that has been erased
    (its data key is destroyed): the account is gone, its tokens with it (401)."""

    code = "account_erased"


class AccountSuspended(Forbidden):
    """The account is suspended by a moderator (403): it may not sign in or act, and
    its profile is not shown."""

    code = "account_suspended"

    def __init__(self, message: str = "this account is suspended") -> None:
        super().__init__(message)


class TooLarge(RoostError):
    """A body or file beyond a size limit (413); ``details['fields']`` names the field."""

    status = 413
    code = "body_too_large"


class UnsupportedMediaType(RoostError):
    """A file of a type Roost does not take (415); ``details['fields']`` names the field."""

    status = 415
    code = "unsupported_media_type"
