"""The in-memory ``ports.timelines.TimelineStore`` the tests use: ``infra.memory_timelines``
(``roost timeline show --at`` runs the timeline projector over it too), under the name
the tests know it by. ``tests/contracts/timelines.py`` runs one suite against it and
``infra.timeline_store.RedisTimelineStore``.
"""

from __future__ import annotations

from infra.memory_timelines import MARKER
from infra.memory_timelines import MemoryTimelineStore as FakeTimelineStore

__all__ = ["MARKER", "FakeTimelineStore"]
