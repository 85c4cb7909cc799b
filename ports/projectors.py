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

VERSIONS: Final[dict[str, int]] = {
    READ_MODELS: 1,
    TIMELINES: 2,  # 2: the position's key carries a hash tag (Redis Cluster)
    NOTIFICATIONS: 1,
    SEARCH: 1,
    TRENDS: 2,  # 2: counters and position under the hash tag {trends} (Redis Cluster)
}
"""Each projection's version, as the code builds it. Bump one when what the projection
holds changes (a new column, another rule for which event writes what) so that old
rows no longer match what the code would write: the next worker to start finds the
live copy's recorded version below this one and rebuilds the projection beside the
live copy, blue-green (docs/operations.md, "Rebuilding a projection")."""
