"""Notifications: the types, who may notify whom (preferences), and read marks.

The notification groups themselves are a projection (``projections.notifications``):
derived from follows, likes, reposts and posts. What is an account's own choice
is recorded here as events, so that a rebuild of the projection from the event
store gives back the same preferences and the same read states:

* ``NotificationPreferences`` (one per account) records the six preferences,
  whole, each time one changes (``NotificationPreferencesUpdated``);
* a ``ReadMark`` records one "mark read" (``NotificationsMarkedRead``): a new
  aggregate per mark, so marking read never loads a growing history.
"""

from __future__ import annotations

from typing import Any, Final, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import notification_preferences_uuid

NotificationType = Literal["follow", "like", "repost", "reply", "mention", "quote"]
NOTIFICATION_TYPES: Final[tuple[NotificationType, ...]] = (
    "follow", "like", "repost", "reply", "mention", "quote")
GROUPED_TYPES: Final = frozenset({"follow", "like", "repost"})
"""Types whose notifications of one target within the grouping window form one group."""

Preference = Literal["everyone", "following", "off"]
PREFERENCE_VALUES: Final[tuple[Preference, ...]] = ("everyone", "following", "off")
DEFAULT_PREFERENCES: Final[dict[str, str]] = dict.fromkeys(NOTIFICATION_TYPES, "everyone")


def preferences_problem(changes: dict[str, str]) -> dict[str, str]:
    """Field name -> reason for each change that names no type or no value."""
    problems = {}
    for name, value in changes.items():
        if name not in NOTIFICATION_TYPES:
            problems[name] = f"is not a notification type ({', '.join(NOTIFICATION_TYPES)})"
        elif value not in PREFERENCE_VALUES:
            problems[name] = f"must be one of {', '.join(PREFERENCE_VALUES)}"
    return problems


class NotificationPreferences(Aggregate):
    """Whose actions may notify the account, per type: ``everyone``, ``following``
    (only accounts it follows) or ``off``. Each event holds all six values, so the
    newest one alone says the whole state."""

    @staticmethod
    def create_id(account_id: int, **_: Any) -> UUID:
        return notification_preferences_uuid(account_id)

    @event("NotificationPreferencesCreated")
    def __init__(self, account_id: int, follow: str, like: str, repost: str, reply: str,
                 mention: str, quote: str) -> None:
        self.account_id = account_id
        self.preferences = {"follow": follow, "like": like, "repost": repost, "reply": reply,
                            "mention": mention, "quote": quote}

    @event("NotificationPreferencesUpdated")
    def update(self, account_id: int, follow: str, like: str, repost: str, reply: str,
               mention: str, quote: str) -> None:
        self.preferences = {"follow": follow, "like": like, "repost": repost, "reply": reply,
                            "mention": mention, "quote": quote}


class ReadMark(Aggregate):
    """One "mark read" by an account: every group up to ``up_to_id`` (that group and
    the groups below it in the list), and the groups ``ids``. Ids that name no
    group of the account change nothing."""

    @event("NotificationsMarkedRead")
    def __init__(self, account_id: int, up_to_id: int | None, ids: list[int]) -> None:
        self.account_id = account_id
        self.up_to_id = up_to_id
        self.ids = ids
