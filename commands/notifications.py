"""Handlers for what an account decides about its notifications: preferences and
read marks. Both are events, so a rebuild of the notifications projection
keeps them (docs/architecture.md, "Notifications")."""

from __future__ import annotations

from commands.context import CommandContext
from commands.messages import MarkNotificationsRead, Result, UpdateNotificationPreferences
from domain.errors import ValidationFailed
from domain.ids import notification_preferences_uuid
from domain.notifications import (
    DEFAULT_PREFERENCES,
    NotificationPreferences,
    ReadMark,
    preferences_problem,
)


def update_notification_preferences(cmd: UpdateNotificationPreferences, ctx: CommandContext
                                    ) -> Result:
    """Change some preferences; answers all six. Changing nothing appends nothing and
    answers the position of the event that made the current state (0: the defaults).

    Raises:
        ValidationFailed: a type or value that does not exist (``details.fields``).
    """
    if problems := preferences_problem(cmd.changes):
        raise ValidationFailed(problems)
    account_id = cmd.actor.account_id
    stored: NotificationPreferences | None = ctx.store.get_or_none(
        notification_preferences_uuid(account_id))
    current = dict(DEFAULT_PREFERENCES) if stored is None else dict(stored.preferences)
    wanted = {**current, **cmd.changes}
    if wanted == current:
        position = 0 if stored is None else ctx.store.position_of(stored.id, stored.version)
        return Result(position, current)
    if stored is None:
        stored = NotificationPreferences(account_id=account_id, **wanted)
    else:
        stored.update(account_id=account_id, **wanted)
    return Result(ctx.commit(stored, answer=wanted), wanted)


def mark_notifications_read(cmd: MarkNotificationsRead, ctx: CommandContext) -> Result:
    """Record the mark; the projection applies it in the order of the log."""
    mark = ReadMark(account_id=cmd.actor.account_id, up_to_id=cmd.up_to_id,
                    ids=list(cmd.ids))
    return Result(ctx.commit(mark, answer={}))
