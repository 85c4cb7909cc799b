"""Prometheus metrics shared by the API, the relay and the workers.

The API may run as several processes (``infra.api_processes``): each then writes its
values to files under ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` answers with all
of them (``exposition``): counters and histograms summed over the processes (those of
processes gone included: a count never goes down), and each gauge as its
``multiprocess_mode`` says: ``livesum`` for what each process holds (its streams),
``mostrecent`` for what a scrape reads from the stores (the value the answering
process has just set). The relay and the worker are one process each and keep
their own registry; the mode means nothing there.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_LATENCY = Histogram(
    "roost_http_request_duration_seconds",
    "HTTP request latency by route template and status class",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENT_STORE_POSITION = Gauge(
    "roost_event_store_position", "Position of the newest event in the event store",
    multiprocess_mode="mostrecent",
)
RELAY_POSITION = Gauge("roost_relay_position", "Position of the last event the relay published",
                       multiprocess_mode="mostrecent")
PROJECTION_POSITION = Gauge(
    "roost_projection_position", "Position of the last event a projector applied", ["projector"],
    multiprocess_mode="mostrecent",
)
PROJECTION_LAG = Gauge(
    "roost_projection_lag_events",
    "Events in the store that a projector has not applied yet",
    ["projector"], multiprocess_mode="mostrecent",
)
GROUP_COMMIT_SIZE = Histogram(
    "roost_event_store_group_commit_writes",
    "Commands' writes appended in one event-store transaction (infra/group_commit.py)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
RELAYED_EVENTS = Counter("roost_relayed_events_total", "Events published by the relay")
PROJECTED_EVENTS = Counter(
    "roost_projected_events_total", "Events applied by projectors", ["projector"]
)
PARKED_EVENTS = Counter(
    "roost_projection_parks_total", "Events a projector parked (by this process)", ["projector"]
)
PARKED = Gauge(
    "roost_parked_events",
    "Events parked and not replayed yet, per projector (from the parked_events table)",
    ["projector"], multiprocess_mode="mostrecent",
)
MEDIA_SWEPT = Counter("roost_media_swept_objects_total",
                      "Media store objects the sweeper removed (infra/media_sweeper.py)")
MEDIA_UPLOADS = Counter("roost_media_uploads_total", "Media uploads by outcome",
                        ["outcome"])
STALE_READS = Counter("roost_stale_reads_total", "Reads answered before Roost-Min-Position")
TIMELINE_REBUILD_SECONDS = Histogram(
    "roost_timeline_rebuild_seconds", "Time to rebuild a returning reader's home timeline",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TIMELINE_REBUILDS = Counter(
    "roost_timeline_rebuilds_total", "Home timelines rebuilt, by whether the read models had "
    "caught up", ["outcome"],
)
PROJECTION_LAG_SECONDS = Gauge(
    "roost_projection_lag_seconds",
    "Seconds from an event's commit to its application, for the last event a projector "
    "applied (search: until it is searchable)",
    ["projector"], multiprocess_mode="mostrecent",
)
REBUILT_EVENTS = Counter(
    "roost_rebuilt_events_total", "Events applied into a copy being built beside the live one "
    "(blue-green rebuild or verify), by this process", ["projector"]
)
PROJECTION_VERSION = Gauge(
    "roost_projection_version", "Code version of a projection's copy: the live one, the one "
    "being built (0 when none), and the code's", ["projector", "copy"],
    multiprocess_mode="mostrecent",
)
PROJECTION_REBUILD_PROGRESS = Gauge(
    "roost_projection_rebuild_progress_ratio", "Share (0..1) of a running rebuild's bulk "
    "phase done; 0 when no rebuild runs", ["projector"], multiprocess_mode="mostrecent"
)
PROJECTION_REBUILD_RATE = Gauge(
    "roost_projection_rebuild_events_per_second", "Events/s of a running rebuild; 0 when "
    "none runs", ["projector"], multiprocess_mode="mostrecent"
)
SEARCH_WRITE_SECONDS = Histogram(
    "roost_search_write_seconds", "Time to write one batch to the search index (bulk, "
    "renames, position), refresh included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCH_STALE_WRITES = Counter(
    "roost_search_stale_writes_total", "Search documents not written because the index "
    "already held that version or a newer one (redeliveries, out-of-order events)",
)

TRENDS_ANSWERS = Counter(
    "roost_trends_answers_total", "GET /api/trends/tags answers by where they came from: "
    "cached (stored in Redis), waited (another reader was computing it), computed (this "
    "process, holding the lock), unlocked (computed after waiting too long for another)",
    ["outcome"],
)
TRENDS_COMPUTE_SECONDS = Histogram(
    "roost_trends_compute_seconds", "Time to compute one trends answer (candidates, counters, "
    "scores) when it was not cached",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe_timeline_rebuild(complete: bool, seconds: float) -> None:
    """A ``ports.timelines.RebuildObserver``: counts a home-timeline rebuild and its time."""
    TIMELINE_REBUILDS.labels("complete" if complete else "lagging").inc()
    TIMELINE_REBUILD_SECONDS.observe(seconds)


LIVE_SUBSCRIPTIONS = Gauge(
    "roost_live_subscriptions", "Server-Sent Events streams the API processes are serving",
    multiprocess_mode="livesum",
)
LIVE_DISCONNECTS = Counter(
    "roost_live_disconnects_total", "Streams this API process closed under their client, "
    "by reason (too_slow, stream_lost, unavailable, shutdown)", ["reason"],
)
LIVE_EVENTS_SENT = Counter(
    "roost_live_events_sent_total", "Live events sent to clients, by SSE event name", ["event"]
)
ADMIN_STREAMS = Gauge(
    "roost_admin_event_streams", "Admin event streams (/api/admin/events/stream) open now",
    multiprocess_mode="livesum",
)


def exposition() -> bytes:
    """The Prometheus text format of this process's metrics or, when
    ``PROMETHEUS_MULTIPROC_DIR`` is set (several API processes), of all the processes
    that wrote there (``prometheus_client.multiprocess.MultiProcessCollector``; no
    ``process_*``/``python_*`` metrics then: they describe one process)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return generate_latest()
    registry = CollectorRegistry()
    # prometheus_client leaves it unannotated
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
