"""Cross-origin requests from browsers (CORS), for a web client served from another
origin than the API: Starlette's ``CORSMiddleware`` with Roost's headers, answering a
refused preflight in the API's error format.

Tokens travel in ``Authorization`` (or ``?access_token=`` for ``EventSource``), never in
cookies, so no credentials mode is needed: an allowed origin's scripts send the bearer
token themselves. What a browser script may send (``ALLOW_HEADERS``) and read
(``EXPOSE_HEADERS``) is the contract's headers.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from infra.http.errors import error_response

ALLOW_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Roost-Min-Position",
                 "Last-Event-ID")
EXPOSE_HEADERS = ("Roost-Position", "Roost-Stale", "Idempotency-Replayed", "Retry-After",
                  "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "ETag")
MAX_AGE_S = 600
"""How long a browser may reuse a preflight's answer (Chromium caps it at 7,200 s)."""


def parse_origins(text: str) -> list[str]:
    """``ROOST_CORS_ORIGINS`` as a list: ``"*"``, or origins ``scheme://host[:port]``
    (http or https, no path, query or trailing slash); ``[]`` for an empty text.

    Raises:
        ValueError: an entry that is not such an origin, named.
    """
    origins = [entry.strip() for entry in text.split(",") if entry.strip()]
    for origin in origins:
        if origin == "*":
            continue
        try:
            parts = urlsplit(origin)
            _ = parts.port  # a port that is no number raises
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
                or f"{parts.scheme}://{parts.netloc}" != origin:
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.org "
                             "(scheme, host and port only) or *")
    return origins


class RoostCors(CORSMiddleware):
    """``CORSMiddleware`` for ``origins``, Roost's methods and headers; a preflight it
    allows is ``204``, one it refuses (an origin, method or header not allowed) is
    ``403 cors_refused`` in the error format instead of Starlette's plain text."""

    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        super().__init__(app, allow_origins=list(origins), allow_methods=ALLOW_METHODS,
                         allow_headers=ALLOW_HEADERS, expose_headers=EXPOSE_HEADERS,
                         max_age=MAX_AGE_S)

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        headers = {k: v for k, v in answer.headers.items()
                   if k.lower() not in ("content-length", "content-type")}
        if answer.status_code == 200:
            return Response(status_code=204, headers=headers)
        refused = bytes(answer.body).decode("utf-8", "replace")  # "Disallowed CORS origin"
        return error_response(
            403, "cors_refused", f"this cross-origin request is not allowed: "
            f"{refused.removeprefix('Disallowed CORS ')} not allowed",
            {"allowed_methods": list(ALLOW_METHODS), "allowed_headers": list(ALLOW_HEADERS)},
            headers=headers)
