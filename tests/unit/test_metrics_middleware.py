"""``MetricsMiddleware``: the status a request is recorded with."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from infra.http.middleware import CLIENT_CLOSED, MetricsMiddleware
from infra.metrics import REQUEST_LATENCY


def _samples(status: str) -> float:
    """Requests recorded so far with ``status`` on an unmatched route."""
    for metric in REQUEST_LATENCY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("status") == status \
                    and sample.labels.get("route") == "unmatched":
                return sample.value
    return 0.0


async def call(app: Any) -> None:
    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    await MetricsMiddleware(app)(scope, receive, send)


async def test_a_request_that_ends_with_no_answer_and_no_error_is_499() -> None:
    async def gone(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the client went away; nothing to answer

    before = _samples(str(CLIENT_CLOSED)), _samples("500")
    await call(gone)
    assert (_samples(str(CLIENT_CLOSED)), _samples("500")) == (before[0] + 1, before[1])


async def test_an_app_that_raises_before_answering_is_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    before = _samples("500")
    with pytest.raises(RuntimeError):
        await call(broken)
    assert _samples("500") == before + 1
