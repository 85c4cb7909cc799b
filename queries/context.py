"""What query handlers read from, injected by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ports.events import EventLogHead
from ports.notifications import NotificationStore
from ports.page_facts import FactsCache, PageReads
from ports.positions import ProjectionPositions
from ports.post_cache import PostCache
from ports.read_model_reader import ReadModelReader
from ports.timelines import HomeTimelines, RebuildObserver
from queries.hydration_cache import HydrationCache, Loaded

if TYPE_CHECKING:  # queries.positions imports this module
    from queries.positions import PositionWatcher


@dataclass(frozen=True, slots=True)
class TimelinePolicy:
    max_entries: int = 800
    active_ttl_s: int = 7 * 24 * 3600
    rebuild_wait_s: float = 5.0


def unobserved(complete: bool, seconds: float) -> None:
    """The default ``RebuildObserver``: counts nothing."""
PostLoader = Callable[["QueryContext", list[int]], Awaitable[dict[int, Loaded]]]
"""``load(ctx, post_ids)``: each post's (body or None, counts or None) from the read models."""


@dataclass(frozen=True, slots=True)
class QueryContext:
    read_models: ReadModelReader
    """The read models (accounts, posts, edges): what every query but the merge reads."""
    timelines: HomeTimelines
    """The home timelines (and the timeline projector's position)."""
    event_log: EventLogHead
    """Where the event store ends (a rebuilt timeline waits for the read models to reach it)."""
    post_cache: PostCache | None = None
    facts: FactsCache | None = None
    """What a page needs besides bodies and counts (``ports.page_facts``), kept by the
    read-model projector; ``None``: read from the read models every time."""
    page_reads: PageReads | None = None
    """Both caches' reads of a page in one round trip, used when it ``serves`` this
    context's ``post_cache`` and ``facts`` (``queries.hydration``)."""
    on_rebuild: RebuildObserver = unobserved
    """Told of each home-timeline rebuild (the composition root counts them in metrics)."""
    policy: TimelinePolicy = field(default_factory=TimelinePolicy)
    positions: ProjectionPositions | None = None
    """Where each projector has got to: what read-your-writes waits on."""
    position_watcher: PositionWatcher | None = None
    """The process's one poller of ``positions``, shared by every waiting read
    (``queries.positions``); without it each wait polls on its own."""
    hydration: HydrationCache = field(default_factory=HydrationCache)
    """This process's hot post bodies and PostgreSQL loads under way (``queries.hydration``)."""
    load_posts: PostLoader | None = None
    """Loads the posts the caches lack; ``None`` is the read models
    (``queries.hydration.load_from_read_models``). Tests wrap it to count or hold loads."""
    notifications: NotificationStore | None = None
    """The notification groups (``queries.notifications``)."""
    media_base_url: str | None = None
    """Where media bytes are served from (``queries.media.media_url``); ``None``: the API."""

    def pinned(self) -> QueryContext:
        """This context for one read of several timeline calls: they all see one copy of
        the timelines (``HomeTimelines.pinned``); itself when it is pinned already."""
        timelines = self.timelines.pinned()
        return self if timelines is self.timelines else replace(self, timelines=timelines)
