"""A request's overhead riding along with its first Redis round trip.

Each Redis round trip costs the API a fixed share of CPU in redis-py (a pool
checkout, a task to send, a timeout per reply: 10-13 % of a warm home read each,
docs/performance.md). A signed-in read pays one round trip for its overhead --
the rate-limit charge and the token's revocation check -- before its own reads
start. A ``Rider`` is that overhead's commands, *waiting* in the request's context
(a ``ContextVar``) instead of sent: the request's first pipeline that takes riders
(``board``; ``infra.redis_copies.LivePointer.checked``, the first call of a read of
a Redis projection) queues them ahead of its own commands, and ``alight`` hands
their replies back. Whoever made the rider then calls ``arrive``, which sends it
alone if nothing took it (a read that failed before its first round trip, or
whose first call is not a boarding one): the overhead is always paid, once, and
the caller decides on its answer before any answer leaves.

A rider boards only a pipeline of its own client (the same ``Redis`` object) sent
by the task that made it wait, at most once: a task started meanwhile (a gather's,
or a process-wide poller's) copies the request's context but never takes it. A
reply of its
that is an error (its script not loaded yet: ``NOSCRIPT``) leaves it unlanded, and
``arrive`` sends it alone, through ``infra.lua.loading``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from infra.lua import Answer, PipelinedScript, loading

T = TypeVar("T")


@dataclass(eq=False)
class Rider(Generic[T]):
    """Commands waiting to ride along: ``queue(pipe)`` queues them on a pipeline of
    ``redis`` and says how to read their replies (``infra.lua.Answer``); ``scripts``,
    the scripts among them (loaded by ``arrive`` when Redis lacks one); ``check``, run
    on the answer as soon as it lands in a ride, may raise to stop the caller's work
    right there (a refused charge: the read it rode with goes no further)."""

    redis: Redis
    queue: Callable[[Pipeline], Answer[T]]
    scripts: Sequence[PipelinedScript] = ()
    check: Callable[[T], None] | None = None
    owner: asyncio.Task[Any] | None = field(default=None, init=False)
    boarded: bool = field(default=False, init=False)
    landed: bool = field(default=False, init=False)
    answer: T | None = field(default=None, init=False)


@dataclass(frozen=True, slots=True)
class Boarded:
    """A rider on a pipeline, and how many of the pipeline's first replies are its."""

    rider: Rider[Any]
    answer: Answer[Any]


_waiting: ContextVar[Rider[Any] | None] = ContextVar("roost_ride_along", default=None)


def wait(rider: Rider[Any]) -> None:
    """Let ``rider`` wait for the calling task's first boarding pipeline (the request's
    own: a task started meanwhile copies the context, but never takes the rider)."""
    rider.owner = asyncio.current_task()
    _waiting.set(rider)


def board(pipe: Pipeline, redis: Redis) -> Boarded | None:
    """Queue the waiting rider's commands on ``pipe`` (a pipeline of ``redis``, with
    nothing queued yet), ahead of the caller's; ``None`` when there is none, it rode
    already, or it waits for another client. The caller executes the pipeline with
    ``raise_on_error=False`` and passes the replies through ``alight``."""
    rider = _waiting.get()
    if rider is None or rider.boarded or rider.redis is not redis \
            or rider.owner is not asyncio.current_task():
        return None
    rider.boarded = True
    _waiting.set(None)
    return Boarded(rider, rider.queue(pipe))


def alight(boarded: Boarded | None, replies: list[Any]) -> list[Any]:
    """The caller's own replies of a pipeline run with ``raise_on_error=False``: the
    rider's (the first ones) read into its answer, unless one is an error (the
    rider then stays unlanded: ``arrive`` sends it again).

    Raises:
        redis-py errors: the first of the caller's own replies that is one (as
            ``execute()`` would have raised it).
    """
    if boarded is not None:
        count = boarded.answer.replies
        mine, replies = replies[:count], replies[count:]
        if not any(isinstance(reply, Exception) for reply in mine):
            rider = boarded.rider
            rider.answer = boarded.answer.read(mine)
            rider.landed = True
            if rider.check is not None:
                rider.check(rider.answer)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def arrive(rider: Rider[T]) -> T:
    """The rider's answer: from the pipeline it rode, or from a round trip of its own
    now (it waits no longer either way).

    Raises:
        redis-py errors: Redis failed on that round trip.
    """
    if _waiting.get() is rider:
        _waiting.set(None)
    rider.boarded = True  # a task that copied the context must not take it now
    if not rider.landed:
        async def run() -> T:
            async with rider.redis.pipeline(transaction=False) as pipe:
                answer = rider.queue(pipe)
                replies = await pipe.execute()
            return answer.read(replies)

        rider.answer = await loading(rider.redis, rider.scripts, run)
        rider.landed = True
    return cast(T, rider.answer)  # landed: the answer read from its replies
