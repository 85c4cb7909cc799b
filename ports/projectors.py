"""The projectors' names: one place for the strings that key their positions,
parked events, leases, health checks and read-your-writes waits.

A name is stored (``projection_positions.name``, ``parked_events.projector``,
Redis keys) and shown (``/health``, ``/api/ops/status``, metrics labels), so
changing one is a data migration, not a rename.
"""

from __future__ import annotations

from typing import Final

READ_MODELS: Final = "read_models"
"""The PostgreSQL read models projector (``projections.read_models``)."""

TIMELINES: Final = "timelines"
"""The Redis home timelines projector (``projections.timelines``)."""

NOTIFICATIONS: Final = "notification_groups"
"""The notification groups projector (``projections.notifications``): PostgreSQL with
its hot parts in Redis. Not ``"notifications"``: that word is the live channel's
(``ports.live``) and a reserved username, and names here must be unique strings."""

SEARCH: Final = "search_index"
"""The search index projector (``projections.search``, Elasticsearch)."""

TRENDS: Final = "trends"
"""The trending-tags counters projector (``projections.trends``, Redis)."""

PROJECTORS: Final = (READ_MODELS, TIMELINES, NOTIFICATIONS, SEARCH, TRENDS)
"""Every projector, in the order a worker starts them and reports show them."""
