"""Counting the Redis round trips of some code: every write of commands to a connection
of ``redis.asyncio`` (one per command sent alone, one per pipeline, one per
``SCRIPT EXISTS`` or ``SCRIPT LOAD`` that redis-py sends before a pipeline's scripts)
is a round trip, whatever client, pool or pipeline sent it -- from the code in the
block and the tasks it starts, not from tasks that were running before (an app's
background readers: the live streams' ``XREAD``, the position poller)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from redis.asyncio.connection import AbstractConnection


class RoundTrips:
    """What was sent while counting: for each round trip, its commands' names."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    def __len__(self) -> int:
        return len(self.sent)

    def clear(self) -> None:
        self.sent.clear()

    def __repr__(self) -> str:
        return f"RoundTrips({len(self.sent)}: {self.sent})"


def _names(packed: Any) -> list[str]:
    """The command names of a packed write (RESP arrays: ``*N``, then ``$len``, name)."""
    chunks = [packed] if isinstance(packed, bytes | bytearray | memoryview) else packed
    data = b"".join(bytes(c) for c in chunks)
    names: list[str] = []
    start = 0
    while (star := data.find(b"*", start)) != -1:
        head = data[star:].split(b"\r\n", 3)
        if len(head) < 3 or not head[0][1:].isdigit() or not head[1].startswith(b"$"):
            break
        names.append(head[2].decode(errors="replace").upper())
        start = _skip_array(data, star)
    return names


def _skip_array(data: bytes, star: int) -> int:
    """The offset just past the RESP array of bulk strings starting at ``star``."""
    end = data.index(b"\r\n", star)
    count = int(data[star + 1:end])
    at = end + 2
    for _ in range(count):
        line_end = data.index(b"\r\n", at)
        length = int(data[at + 1:line_end])
        at = line_end + 2 + length + 2
    return at


_COUNTING: ContextVar[RoundTrips | None] = ContextVar("counting_round_trips", default=None)


@contextmanager
def counting_round_trips() -> Iterator[RoundTrips]:
    """Count (and name) every round trip to Redis that the block (or a task it starts:
    they copy its context) sends while it runs."""
    found = RoundTrips()
    original = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, command: Any, check_health: bool = True
                      ) -> None:
        if _COUNTING.get() is found:
            found.sent.append(_names(command))
        await original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    token = _COUNTING.set(found)
    try:
        yield found
    finally:
        _COUNTING.reset(token)
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
