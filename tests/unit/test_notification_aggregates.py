"""Notification preferences and read marks: events, rules, stable topics."""

from __future__ import annotations

from eventsourcing.utils import get_topic

from domain.ids import notification_preferences_uuid
from domain.notifications import (
    DEFAULT_PREFERENCES,
    NotificationPreferences,
    ReadMark,
    preferences_problem,
)
from infra.event_types import known_event_types


def test_event_topics_are_stable() -> None:
    """Stored events record these class paths; renaming one breaks old events."""
    preferences = NotificationPreferences(account_id=1, **DEFAULT_PREFERENCES)
    preferences.update(account_id=1, **{**DEFAULT_PREFERENCES, "like": "off"})
    mark = ReadMark(account_id=1, up_to_id=5, ids=[3])
    assert [get_topic(type(e)) for agg in (preferences, mark) for e in agg.collect_events()] == [
        "domain.notifications:NotificationPreferences.NotificationPreferencesCreated",
        "domain.notifications:NotificationPreferences.NotificationPreferencesUpdated",
        "domain.notifications:ReadMark.NotificationsMarkedRead",
    ]
    assert {"NotificationPreferencesCreated", "NotificationPreferencesUpdated",
            "NotificationsMarkedRead"} <= known_event_types()


def test_preferences_are_one_per_account_and_hold_all_six() -> None:
    preferences = NotificationPreferences(account_id=7, **DEFAULT_PREFERENCES)
    assert preferences.id == notification_preferences_uuid(7)
    preferences.update(account_id=7, **{**DEFAULT_PREFERENCES, "follow": "following"})
    assert preferences.preferences == {**DEFAULT_PREFERENCES, "follow": "following"}


def test_read_marks_are_distinct_aggregates() -> None:
    assert ReadMark(account_id=1, up_to_id=None, ids=[]).id != \
        ReadMark(account_id=1, up_to_id=None, ids=[]).id


def test_preference_problems_name_the_field() -> None:
    assert preferences_problem({"like": "off", "follow": "following"}) == {}
    assert set(preferences_problem({"likes": "off", "reply": "nobody"})) == {"likes", "reply"}
