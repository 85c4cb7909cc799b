"""Notifications as a reader sees them: pages of groups, one group, the unread count
and the preferences.

What the projection stored is checked again as it is read: accounts the reader
blocks, is blocked by or mutes (the read models' blocks and mutes, which may be
ahead of the projection) are left out of each group and of its count, a group
with nobody else left is left out, and so is a type the reader's preference
now turns ``off``. A group whose post is gone or hidden from the reader is left
out too (a page may then be short; ``next_cursor`` still continues it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from domain.ids import parse_snowflake
from domain.notifications import NOTIFICATION_TYPES
from ports.notifications import NotificationStore, StoredGroup, Summary
from ports.projectors import NOTIFICATIONS
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.hydration import hydrate
from queries.positions import wait_for_position
from queries.shapes import (
    Account,
    NotificationGroup,
    Page,
    account_of_row,
    notification_group,
    page,
)
from queries.visibility import hidden_for


def _store(ctx: QueryContext) -> NotificationStore:
    if ctx.notifications is None:
        raise RuntimeError("QueryContext.notifications is not wired (infra.bootstrap)")
    return ctx.notifications


async def _hidden(ctx: QueryContext, reader_id: int) -> frozenset[int]:
    """Accounts in a block with the reader (either way) or muted by the reader."""
    hidden = await hidden_for(ctx.read_models, reader_id)
    return hidden.blocked | hidden.muted


def _shown_kinds(summary: Summary, types: Collection[str] | None) -> list[str]:
    """The requested types (all by default) that the reader's preferences leave on."""
    wanted = NOTIFICATION_TYPES if types is None else [t for t in NOTIFICATION_TYPES
                                                        if t in types]
    return [kind for kind in wanted if summary.preferences.get(kind) != "off"]


async def _accounts(ctx: QueryContext, account_ids: set[int]) -> dict[int, Account]:
    if not account_ids:
        return {}
    rows = await ctx.read_models.accounts_by_id(sorted(account_ids))
    return {row["id"]: account_of_row(row) for row in rows}


async def _render(ctx: QueryContext, reader_id: int, groups: Sequence[StoredGroup]
                  ) -> list[NotificationGroup]:
    """API notification groups; a group whose post the reader cannot see is left out,
    and so is one whose listed accounts are all suspended (not shown: ``_accounts``)."""
    post_ids = list(dict.fromkeys(g.post_id for g in groups if g.post_id is not None))
    posts = {post["id"]: post
             for post in await hydrate(ctx, [(i, None) for i in post_ids], reader_id)}
    accounts = await _accounts(ctx, {a for g in groups for a in g.account_ids})
    shaped: list[NotificationGroup] = []
    for group in groups:
        post = None if group.post_id is None else posts.get(str(group.post_id))
        if group.post_id is not None and post is None:
            continue
        if group.account_ids and not any(a in accounts for a in group.account_ids):
            continue
        shaped.append(notification_group(
            id=group.group_id, type=group.kind, post=post,
            accounts=[accounts[a] for a in group.account_ids if a in accounts],
            accounts_count=group.accounts_count, latest_at=group.latest_at, read=group.read,
        ))
    return shaped


async def notifications_page(ctx: QueryContext, reader_id: int, types: Collection[str] | None,
                             cursor: str | None, limit: int) -> Page[NotificationGroup]:
    """A page of the reader's groups, latest activity first: ``{items, next_cursor}``.

    ``types`` limits the page to those types (valid names only; all when ``None``).

    Raises:
        ValidationFailed: ``invalid_cursor``.
    """
    before = decode_int_cursor(cursor)
    store = _store(ctx)
    kinds = _shown_kinds(await store.summary(reader_id), types)
    if not kinds:
        return page([], None)
    groups = await store.groups(reader_id, before=before, limit=limit + 1, kinds=kinds,
                                hidden=await _hidden(ctx, reader_id))
    items = await _render(ctx, reader_id, groups[:limit])
    next_cursor = encode_cursor(groups[limit - 1].sort_key) if len(groups) > limit else None
    return page(items, next_cursor)


async def notification_for(ctx: QueryContext, reader_id: int, group_id: str, *,
                           position: int | None = None, wait_s: float = 2.0
                           ) -> NotificationGroup | None:
    """One group as ``notifications_page`` shows it to ``reader_id``, for a live
    ``notification`` event whose ``data`` is ``{"id": group_id}``.

    ``position`` (the LiveEvent's): first wait, at most ``wait_s`` seconds, until
    the projection has committed it (the event is announced just before its
    batch commits). ``None`` when the group is gone, hidden from the reader (a
    block or mute, its post deleted or hidden) or of a type the reader's
    preferences now turn off.
    """
    parsed = parse_snowflake(group_id)
    if parsed is None:
        return None
    if position is not None:
        await wait_for_position(ctx, position, (NOTIFICATIONS,), wait_s)
    store = _store(ctx)
    group = await store.group(reader_id, parsed, await _hidden(ctx, reader_id))
    if group is None or group.kind not in _shown_kinds(await store.summary(reader_id), None):
        return None
    shaped = await _render(ctx, reader_id, [group])
    return shaped[0] if shaped else None


async def unread_count(ctx: QueryContext, reader_id: int) -> dict[str, int]:
    """``{count}``: the reader's unread groups, of the types its preferences leave on."""
    summary = await _store(ctx).summary(reader_id)
    kinds = _shown_kinds(summary, None)
    return {"count": sum(n for kind, n in summary.unread.items() if kind in kinds)}


async def preferences(ctx: QueryContext, reader_id: int) -> dict[str, str]:
    """All six types' preferences, as the projection has applied them."""
    return dict((await _store(ctx).summary(reader_id)).preferences)
