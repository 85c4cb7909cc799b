"""The Server-Sent Events sender: a subscription's events, rendered per reader.

Each live event names a channel and an event (``("home", "update")``); the
renderer registered for that pair (``queries.live``) turns the event's reference
into what the reader is shown (a Post, a notification group), or ``None`` to skip
it (the reader may no longer see it). Renderers are injected (``LiveServices``),
so the sender knows no read model.

What a client receives:

* ``id``, ``event`` and JSON ``data`` per event, in id order, each once;
* one ``event: reset`` first when its ``Last-Event-ID`` could not be resumed
  (malformed, or older than the buffers reach); its ``id`` is the point the
  stream starts from, so a reconnect after it resumes from there;
* a comment (``: ping``) every ``keepalive_s`` seconds;
* ``event: disconnect`` with ``{"reason", "message"}`` when the server ends
  the stream under it (``too_slow``: it fell more than its buffer behind;
  ``stream_lost``; ``unavailable``; ``shutdown``). It carries no ``id``, so
  the client's last id stays the last event it got: reconnecting with it
  resumes exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final, Protocol

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from infra.failures import is_transient
from infra.http.session_checks import SessionChecks
from infra.live import RedisLiveHub, RedisStreamSlots, reader_client
from infra.metrics import LIVE_DISCONNECTS, LIVE_EVENTS_SENT
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from ports.live import (
    AUTHOR_CHANNEL,
    HOME_CHANNEL,
    NOTIFICATIONS_CHANNEL,
    LiveEventSubscriber,
    LiveSubscription,
    SubscriptionClosed,
)
from projections.home_stream import DELETE, UPDATE
from queries.coalescing import CoalescingFactsCache, CoalescingPostCache
from queries.context import QueryContext
from queries.live import followed_update, home_delete, home_update, notification

log = structlog.get_logger(__name__)

Render = Callable[[int, Mapping[str, Any], int], Awaitable[dict[str, Any] | None]]
"""``render(reader_id, data, position)``: what the reader is shown, or ``None`` to skip
the event; ``position`` is the event-store position that caused it."""
Renderers = Mapping[tuple[str, str], Render]
"""``(channel, event name)`` -> its renderer; an event without one is skipped."""
Ready = Callable[[int], Awaitable[object]]
"""``ready(position)``: returns once what the renderers read includes ``position``
(bounded: on timeout it returns all the same)."""
NOTIFICATION = "notification"
RESET = "reset"
DISCONNECT = "disconnect"


class StreamSlots(Protocol):
    limit: int

    async def acquire(self, account_id: int) -> tuple[str | None, float]: ...

    async def release(self, slot: str) -> None: ...


@dataclass
class LiveServices:
    """What the streaming routes need, built by the API's lifespan."""

    subscriber: LiveEventSubscriber
    slots: StreamSlots
    renderers: Renderers
    keepalive_s: float = 15.0
    send_timeout_s: float = 30.0
    recheck_s: float = 5.0
    """How often an idle stream asks whether its session still holds (``live_events``)."""
    session_checks: SessionChecks | None = None
    """The streams' session questions, asked together (None: each asks alone)."""
    busy: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(10))
    """Bounds the streams' work against the stores at once in this process (opening a
    stream, rendering an event): a post to 1,000 connected followers, or 1,000 clients
    reconnecting after a restart, queue here instead of exhausting the PostgreSQL and
    Redis connection pools (whose overflow would answer 503 or drop the streams)."""


def stream_renderers(ctx: QueryContext, wait_s: float) -> dict[tuple[str, str], Render]:
    """Every stream's renderers: the home stream's Posts hydrated for the reader and
    deletions as ``{id}``; the notifications stream's groups, each once the
    notifications projection has committed it (at most ``wait_s`` seconds). The
    renderers read the post and facts caches through ``queries.coalescing``: the
    renders of one event for all of the process's streams share one round trip to
    each."""
    ctx = replace(
        ctx,
        post_cache=None if ctx.post_cache is None else CoalescingPostCache(ctx.post_cache),
        facts=None if ctx.facts is None else CoalescingFactsCache(ctx.facts))
    return {
        (HOME_CHANNEL, UPDATE): partial(home_update, ctx),
        (HOME_CHANNEL, DELETE): partial(home_delete, ctx),
        (AUTHOR_CHANNEL, UPDATE): partial(followed_update, ctx),
        (NOTIFICATIONS_CHANNEL, NOTIFICATION): partial(notification, ctx, wait_s=wait_s),
    }


async def start_live(settings: Settings, redis: Redis, queries: QueryContext,
                     resources: AsyncExitStack, extra: Renderers | None = None) -> LiveServices:
    """This API process's live streams: its one reader (on a connection of its own),
    the stream slots, and the renderers (``stream_renderers``; ``extra`` adds or replaces
    some, as tests do); all are
    stopped by ``resources`` (the services' exit stack), before the clients they use."""
    # its XREAD BLOCK holds one connection
    reader = reader_client(settings.redis_url, cluster=settings.redis_cluster)
    resources.push_async_callback(reader.aclose)
    hub = RedisLiveHub(redis, reader, settings.redis_prefix, ttl_s=settings.live_ttl_s,
                       queue=settings.live_queue)
    slots = RedisStreamSlots(redis, settings.redis_prefix, settings.live_max_streams_per_account)
    await hub.start()
    resources.push_async_callback(hub.stop)
    await slots.start()
    resources.push_async_callback(slots.stop)
    renderers = stream_renderers(queries, settings.min_position_wait_s)
    return LiveServices(hub, slots, {**renderers, **(extra or {})},
                        session_checks=SessionChecks(redis, RedisKeys(settings.redis_prefix)),
                        keepalive_s=settings.live_keepalive_s,
                        send_timeout_s=settings.live_send_timeout_s,
                        recheck_s=settings.live_session_recheck_s,
                        busy=asyncio.Semaphore(settings.postgres_pool_size))


def _json(data: Mapping[str, Any]) -> str:
    return orjson.dumps(data).decode()


def disconnect_event(reason: str, message: str) -> ServerSentEvent:
    return ServerSentEvent(_json({"reason": reason, "message": message}), event=DISCONNECT)


Refusal = Callable[[], Awaitable[str | None]]
"""Why the stream's token may no longer be used (``session_ended``,
``account_suspended``), or ``None`` while it may."""

REFUSALS: Final = {
    "session_ended": "this session has ended; log in again",
    "account_suspended": "this account is suspended",
}


async def live_events(subscription: LiveSubscription, reader_id: int, renderers: Renderers,
                      last_event_id: str | None, ready: Ready | None = None,
                      busy: asyncio.Semaphore | None = None, wait_s: float = 30.0,
                      refusal: Refusal | None = None, recheck_s: float = 5.0
                      ) -> AsyncIterator[ServerSentEvent]:
    """The SSE events of ``subscription`` for ``reader_id``, until it is closed.

    ``ready(position)`` is awaited before rendering events up to ``position``: a
    projection publishes as it applies an event, and what the renderers read
    (the read models) may apply it a moment later. ``refusal()`` is asked before
    each batch of events is sent and at least every ``recheck_s`` seconds while
    nothing comes: once the session has ended (logout, suspension) the stream sends
    ``disconnect`` with that reason and ends, and no event reaches it after that."""
    if subscription.reset:
        yield ServerSentEvent(_json({"message": f"cannot resume from {last_event_id!r}: "
                                     "reload, then follow from here"}),
                              event=RESET, id=subscription.start_id)
    wait = min(wait_s, recheck_s) if refusal is not None else wait_s
    while True:
        try:
            events = await subscription.next(wait)
            if refusal is not None and (refused := await refusal()) is not None:
                LIVE_DISCONNECTS.labels(refused).inc()
                yield disconnect_event(refused, REFUSALS.get(refused, refused))
                return
            if events and ready is not None:
                await ready(max(event.key[0] for event in events))
            for event in events:
                render = renderers.get((event.channel, event.event))
                if render is None:
                    continue
                async with busy or contextlib.nullcontext():
                    shown = await render(reader_id, event.data, event.key[0])
                if shown is None:
                    continue
                LIVE_EVENTS_SENT.labels(event.event).inc()
                yield ServerSentEvent(_json(shown), event=event.event, id=event.id)
        except SubscriptionClosed as closed:
            yield disconnect_event(closed.reason, closed.message)
            return
        except Exception as error:
            if is_transient(error) or isinstance(error, RedisError):
                log.warning("live.stream_failed", error=repr(error))
                reason, message = "unavailable", "a backing service did not answer"
            else:
                log.exception("live.stream_failed", error=repr(error))
                reason, message = "internal_error", "something went wrong on our side"
            LIVE_DISCONNECTS.labels(reason).inc()
            yield disconnect_event(reason, f"{message}; reconnect with Last-Event-ID")
            return


class LiveResponse(EventSourceResponse):
    """An SSE response that runs ``cleanup`` however it ends (client gone, send
    timeout, server stop, HEAD), even when its generator never started."""

    def __init__(self, content: AsyncIterator[ServerSentEvent],
                 cleanup: Callable[[], Awaitable[None]], *, ping: float,
                 send_timeout: float) -> None:
        super().__init__(content, ping=ping, send_timeout=send_timeout,
                         headers={"Cache-Control": "no-store"})
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await asyncio.shield(self._cleanup())
