"""What hydration keeps in one process: hot post bodies and the loads under way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from cachetools import TTLCache

from ports.post_cache import PostBody

Loaded = tuple[PostBody | None, dict[str, int] | None]
"""A post as loaded from PostgreSQL: (body, or ``None`` when deleted or absent; its
counts as the post cache keeps them, or ``None`` when absent)."""

BODY_TTL_S = 10
BODY_MAX_ENTRIES = 20_000


def _hot_bodies() -> TTLCache[int, PostBody]:
    return TTLCache(maxsize=BODY_MAX_ENTRIES, ttl=BODY_TTL_S)


@dataclass(slots=True)
class HydrationCache:
    """The query side's in-process state, owned by its ``QueryContext``.

    ``bodies``: post id -> post body (bodies are immutable), kept for
    ``BODY_TTL_S`` seconds, at most ``BODY_MAX_ENTRIES``. ``in_flight``: post id ->
    the future of its PostgreSQL load under way, so that concurrent readers of
    one uncached post load it once (single flight); empty when no load runs.
    """

    bodies: TTLCache[int, PostBody] = field(default_factory=_hot_bodies)
    in_flight: dict[int, asyncio.Future[Loaded]] = field(default_factory=dict)
