"""The edge check for the text a client sends outside the body: path, query, headers.

One ASGI middleware runs ``domain.text.text_problem`` over

* the path, percent-decoded as UTF-8: a segment that is not valid UTF-8, holds a
  refused character or an encoded slash cannot be a username, an id or a route
  word, so the answer is ``404`` in the error format (never a ``500`` from a store
  that cannot hold U+0000, nor another route reached through ``%2F``);
* every query parameter (name and value, percent-decoded as UTF-8): ``422
  validation_failed`` naming the parameter (``query`` when the name itself is
  refused);
* the headers Roost reads (``READ_HEADERS``), decoded as UTF-8: ``422``
  naming the header.

Request bodies are checked by the validated string types of
``infra.http.text`` used in every request schema.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import Receive, Scope, Send

from domain.text import text_problem
from infra.http.errors import error_response
from infra.http.middleware import HttpMiddleware

READ_HEADERS = {
    b"authorization": "Authorization",
    b"idempotency-key": "Idempotency-Key",
    b"roost-min-position": "Roost-Min-Position",
    b"last-event-id": "Last-Event-ID",
}
NOT_UTF8 = "must be valid UTF-8 text"


def _text_reason(raw: bytes) -> str | None:
    """Why ``raw`` is not acceptable client text (UTF-8, the text rule), or ``None``."""
    try:
        return text_problem(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return NOT_UTF8


def path_is_clean(scope: Scope) -> bool:
    """Whether the percent-decoded path is UTF-8 text without refused characters, and
    no segment holds an encoded slash (``%2F``): routing matches the decoded path, so
    ``/api/posts/1%2Flike`` would reach ``/api/posts/1/like`` -- another resource than
    the one a proxy or a log in front of Roost saw -- while no username, id, tag or
    route word can hold a ``/``."""
    raw = (scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
           ).split(b"?", 1)[0]
    if b"%2f" in raw.lower():
        return False
    return _text_reason(unquote_to_bytes(raw)) is None


def query_problems(query_string: bytes) -> dict[str, str]:
    """Refused query parameters: ``{name: reason}`` (``query`` for a refused name)."""
    problems: dict[str, str] = {}
    for pair in query_string.split(b"&"):
        raw_name, _, raw_value = (unquote_to_bytes(part) for part in
                                  pair.replace(b"+", b" ").partition(b"="))
        if reason := _text_reason(raw_name):
            problems.setdefault("query", f"parameter names {reason}")
        elif reason := _text_reason(raw_value):
            problems.setdefault(raw_name.decode("utf-8"), reason)
    return problems


def header_problems(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Refused values of the headers Roost reads: ``{Header-Name: reason}``."""
    problems: dict[str, str] = {}
    for name, value in headers:
        label = READ_HEADERS.get(name.lower())
        if label is not None and (reason := _text_reason(value)):
            problems.setdefault(label, reason)
    return problems


class InputHygieneMiddleware(HttpMiddleware):
    """Refuse a request whose path, query or read headers hold refused text."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not path_is_clean(scope):
            response = error_response(404, "not_found", "no such resource")
            await response(scope, receive, send)
            return
        problems = {**header_problems(scope["headers"]),
                    **query_problems(scope.get("query_string", b""))}
        if problems:
            message = "; ".join(f"{name}: {reason}" for name, reason in problems.items())
            response = error_response(422, "validation_failed", message, {"fields": problems})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
