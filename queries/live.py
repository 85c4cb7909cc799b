"""What a live event shows a reader, rendered when it is sent.

Live events carry references (``ports.live``); the API process hydrates them
for the reader at send time, through the same hydration as the home timeline
and the same reading as the notifications page, so blocks, mutes, deletions
and preferences changed after the event are respected.

Every renderer takes ``(ctx, reader_id, data, position)``: ``data`` the event's
reference, ``position`` the event-store position that caused it (the first part
of its resume id). It answers what the reader is shown, or ``None`` to skip it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queries.context import QueryContext
from queries.hydration import hydrate
from queries.notifications import notification_for


async def home_update(ctx: QueryContext, reader_id: int, data: Mapping[str, Any],
                      _position: int = 0, *, pushed: bool = True) -> dict[str, Any] | None:
    """The Post of a new home item (``{"id", "repost_of_id"?}``), or ``None`` when the
    reader must not see it: deleted, by or reposted by an account in a block or
    mute with the reader, or (``pushed``, a repost) not added to the reader's
    kept timeline because an older item already shows the post there."""
    item = int(data["id"])
    original = int(data["repost_of_id"]) if data.get("repost_of_id") else None
    if pushed and original is not None and not await _in_home(ctx, reader_id, item, original):
        return None
    posts = await hydrate(ctx, [(item, original)], reader_id, hide_muted=True)
    return dict(posts[0]) if posts else None


async def followed_update(ctx: QueryContext, reader_id: int, data: Mapping[str, Any],
                          _position: int = 0) -> dict[str, Any] | None:
    """A followed celebrity's new item (pulled, never in the kept timeline)."""
    return await home_update(ctx, reader_id, data, pushed=False)


async def home_delete(_ctx: QueryContext, _reader_id: int, data: Mapping[str, Any],
                      _position: int = 0) -> dict[str, Any]:
    """``{"id"}`` of an item that left the reader's home timeline."""
    return {"id": str(data["id"])}


async def notification(ctx: QueryContext, reader_id: int, data: Mapping[str, Any],
                       position: int, *, wait_s: float = 2.0) -> dict[str, Any] | None:
    """The Notification group of a ``notification`` event (``{"id": "<group id>"}``) as
    the notifications page shows it, once the projection has committed ``position``
    (it announces just before its batch commits; at most ``wait_s`` seconds); ``None``
    when the group is gone or hidden from the reader (``notification_for``)."""
    group = await notification_for(ctx, reader_id, str(data["id"]), position=position,
                                   wait_s=wait_s)
    return None if group is None else dict(group)


async def _in_home(ctx: QueryContext, reader_id: int, item: int, original: int) -> bool:
    """Whether a repost is in the reader's timeline (true when it is not kept: then
    nothing was pushed and the reader is shown what the read will rebuild)."""
    timelines = ctx.timelines.pinned()  # both calls on one copy
    if not await timelines.is_kept(reader_id):
        return True
    [present] = await timelines.contains([("timeline", reader_id, (item, original))])
    return present
