"""The start-up heap out of the cyclic garbage collector's way.

An API process holds ~200,000 GC-tracked objects once started (modules, FastAPI's
routes and models, pydantic validators, the clients); every full (generation 2)
collection walks them all, and under a 100 posts/s load such a collection paused the
event loop for 212-333 ms (gc.callbacks timings, 2026-12-01), which showed as every
stage of a request slowing at once at the tail. ``gc.freeze()`` moves what is alive
at start-up into a permanent generation that collections skip (the CPython
documentation's own advice for long-lived processes, and what Instagram's Django
fleet does: "Dismissing Python Garbage Collection at Instagram", 2017); garbage made
afterwards is collected as before. Only server processes freeze (``roost api``'s
processes, the worker, the relay): a frozen object that later becomes cyclic garbage
is never freed, so an app made and dropped in a test process must not be frozen.
"""

from __future__ import annotations

import gc

import structlog

log = structlog.get_logger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then freeze every object still alive; the number frozen, also
    logged (``heap.frozen``)."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("heap.frozen", objects=frozen)
    return frozen
