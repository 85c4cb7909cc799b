"""The one process-wide patch of aiokafka: a pause after an empty fetch.

noida-db (STACK.md's broker) answers an empty fetch at once instead of holding
it for ``fetch_max_wait_ms`` as Kafka does, so aiokafka's fetch loop spins
(~3,000 fetches/s, most of a core per idle worker; docs/performance.md).
aiokafka has no per-consumer hook for this, so :func:`pause_empty_fetches`
replaces the private ``Fetcher._proc_fetch_request`` for the whole process.

The patch leans on aiokafka's internals, so it is pinned to them: the version
it was written for, the signature of the method it wraps and a hash of the
source of that method and of its caller. ``tests/unit/test_kafka_fetch_patch.py``
compares them with the installed library; after an aiokafka upgrade that test
fails until someone re-checks the patch and updates the pins here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiokafka.consumer.fetcher import Fetcher

WRITTEN_FOR_AIOKAFKA: Final = "0.14.0"
"""The aiokafka version whose internals the patch was checked against."""

PATCHED_SIGNATURE: Final = "(self, assignment, node_id, request)"
"""``inspect.signature(Fetcher._proc_fetch_request)`` in that version."""

SOURCE_SHA256: Final = {
    # The wrapped method: returns True when the fetch brought records.
    "_proc_fetch_request": "59bf948fff47eed580671971252454daa614df479733f3bedfefe95bc4d8ad30",
    # Its caller, the fetch loop: how it treats the result and cancels the task on close().
    "_fetch_requests_routine": "2a8ec5932644c9b04ff222ee7f27c9b0d6a0a7e89ce5a158ed340ceedc2ec7a9",
}
"""SHA-256 of ``inspect.getsource`` of each ``Fetcher`` method the patch depends on."""

FETCHER_ATTRIBUTES: Final = ("_fetch_max_wait_ms",)
"""Private ``Fetcher`` attributes the patch reads (set in ``Fetcher.__init__``)."""

ProcFetch = Callable[..., Awaitable[Any]]
"""``Fetcher._proc_fetch_request(self, assignment, node_id, request)``: True when the
fetch brought records."""
Sleep = Callable[[float], Awaitable[None]]

ORIGINAL_PROC_FETCH: Final[ProcFetch] = Fetcher._proc_fetch_request
"""The library's own method, kept at import (before any patch) for the wrapper to call."""


def pausing_when_empty(fetch: ProcFetch, pause_s: float, sleep: Sleep = asyncio.sleep
                       ) -> ProcFetch:
    """``fetch`` (a ``Fetcher._proc_fetch_request``), followed by ``sleep(pause_s)`` after
    an empty answer that came back in under half the wait asked for; ``pause_s`` 0 (or
    less) never sleeps."""
    pause = max(0.0, pause_s)

    async def _proc_fetch_request(self: Fetcher, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        got_something = await fetch(self, *args, **kwargs)
        waited_ms = (time.monotonic() - started) * 1000
        if pause and not got_something and waited_ms < self._fetch_max_wait_ms / 2:
            try:
                await sleep(pause)  # the broker did not wait: wait here instead
            except asyncio.CancelledError:
                return False  # as aiokafka's own fetch does: close() awaits it after cancel()
        return got_something

    return _proc_fetch_request


def pause_empty_fetches(pause_s: float, fetch: ProcFetch = ORIGINAL_PROC_FETCH,
                        sleep: Sleep = asyncio.sleep) -> None:
    """Make consumers wait ``pause_s`` seconds after an empty fetch the broker answered at once.

    A Kafka broker holds an empty fetch for up to ``fetch_max_wait_ms`` (long
    poll), so an idle consumer sends a couple of requests a second; noida-db
    answers at once and the fetch loop spins. The pause applies only to an
    empty answer that came back in under half the wait asked for, which a real
    broker never sends, so it changes nothing there. ``0`` (or less) turns it
    off. Process-wide: every consumer in the process, Faust's included.
    ``fetch`` is what the wrapper calls (the library's method; tests wrap it to
    count requests) and ``sleep`` how it waits.
    """
    Fetcher._proc_fetch_request = pausing_when_empty(fetch, pause_s, sleep)
