"""``infra.http.bounded_protocol`` still fits the installed uvicorn.

It extends uvicorn's httptools protocol: it counts through the parser callbacks
``on_url`` and ``on_header``, stops the parser by raising from them, and relies on
``data_received`` answering a parse error through ``send_400_response``, which it
turns into the 431. These tests fail when uvicorn changes under it; the e2e tests
(``tests/e2e/test_input_hygiene.py``) show the 431 over a real connection.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from infra.http import bounded_protocol

RECHECK = ("uvicorn changed under infra/http/bounded_protocol.py: re-check the callbacks "
           "it overrides and how data_received answers a parse error, run "
           "tests/e2e/test_input_hygiene.py -k 431, then update WRITTEN_FOR_UVICORN")


def test_written_for_the_installed_version() -> None:
    assert version("uvicorn") == bounded_protocol.WRITTEN_FOR_UVICORN, RECHECK


def test_the_overridden_methods_keep_their_signatures() -> None:
    for name in ("data_received", "send_400_response", "on_message_begin", "on_url",
                 "on_header", "on_headers_complete"):
        ours = inspect.signature(getattr(bounded_protocol.BoundedHeadProtocol, name))
        theirs = inspect.signature(getattr(HttpToolsProtocol, name))
        assert list(ours.parameters) == list(theirs.parameters), (name, RECHECK)


def test_a_parse_error_is_answered_through_send_400_response() -> None:
    source = inspect.getsource(HttpToolsProtocol.data_received)
    assert "except httptools.HttpParserError" in source, RECHECK
    assert "self.send_400_response(" in source, RECHECK
