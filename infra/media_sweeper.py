"""The media sweeper: removes the store's objects that nothing will serve again.

An object is kept while some medium still needs it (``ReadModelReader.live_media_keys``):
attached to a post that is not deleted, or unattached and younger than
``domain.media.UNATTACHED_TTL`` plus ``margin``. Every other object goes, once it
is older than ``grace``: the media of deleted posts, media left unattached past
their 24 hours, and orphans (objects an upload wrote before it crashed, or whose
event was refused). Keys are content-addressed, so one object may serve several
media: it stays while any of them needs it.

Why it cannot remove what is needed:

* it runs only once the read models have applied every event stored when it
  started (``caught_up``), so every attachment made until then is known;
* an attachment made after it started names a medium uploaded less than 24
  hours ago (the write side refuses older ones, ``commands.media``), whose
  objects the margin keeps;
* an upload after it started (re)writes its objects first, renewing their
  ``modified_at``, and ``grace`` keeps recent objects.

It works a page of the store at a time (``MediaStore.list_objects``, ``page``
objects, 1,000 by default): it asks the read models which keys of that page are
still needed (``live_media_keys(keys, ...)``, by index), removes the page's
doomed objects, and lists the next page after the last key. Its memory is one
page, whatever the size of the store; the report keeps counts only (``removed``
hands each page's removed keys to whoever wants them, e.g. the CLI's listing).

``roost media sweep`` runs it once (``infra/cli_media.py``); the worker every
``ROOST_MEDIA_SWEEP_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from domain.media import UNATTACHED_TTL
from infra.database import AsyncPool
from infra.eventlog import PostgresEventLogHead
from infra.metrics import MEDIA_SWEPT
from infra.read_model_reader import PostgresReadModelReader
from infra.settings import Settings
from ports.media_store import LIST_PAGE, MediaStore
from ports.positions import ProjectionPositions
from ports.projectors import READ_MODELS
from ports.read_model_reader import ReadModelReader

log = structlog.get_logger(__name__)


class SweepDeferred(Exception):
    """The read models are behind the event log: sweeping now could remove the objects of
    a medium attached a moment ago. Nothing was removed; try again later."""


@dataclass
class SweepReport:
    """What a sweep saw and did, in objects: listed, removed (or, in a dry run, that
    would be), kept because needed, kept because written within the grace period;
    ``pages`` listed."""

    listed: int = 0
    removed: int = 0
    needed: int = 0
    recent: int = 0
    pages: int = 0


async def sweep_media(store: MediaStore, reader: ReadModelReader, *, now: datetime,
                      margin: timedelta, grace: timedelta,
                      caught_up: Callable[[], Awaitable[bool]] | None = None,
                      dry_run: bool = False, page: int = LIST_PAGE,
                      removed: Callable[[Sequence[str]], object] | None = None
                      ) -> SweepReport:
    """Remove the objects no medium needs, a page of ``page`` objects at a time (module
    doc); ``dry_run`` removes nothing; ``removed(keys)`` is called with each page's
    removed (or, dry, doomed) keys.

    Raises:
        SweepDeferred: ``caught_up()`` said the read models are behind.
        ports.errors.DependencyUnavailable: the store failed.
    """
    if caught_up is not None and not await caught_up():
        raise SweepDeferred("the read models are behind the event log; sweep later")
    unattached_since = now - UNATTACHED_TTL - margin
    report = SweepReport()
    after = ""
    while True:
        listed = await store.list_objects(after, page)
        if not listed:
            break
        report.pages += 1
        report.listed += len(listed)
        needed = await reader.live_media_keys([o.key for o in listed], unattached_since)
        doomed = []
        for stored in listed:
            if stored.key in needed:
                report.needed += 1
            elif stored.modified_at > now - grace:
                report.recent += 1
            else:
                doomed.append(stored.key)
        if doomed and not dry_run:
            await store.delete(doomed)
            MEDIA_SWEPT.inc(len(doomed))
        report.removed += len(doomed)
        if doomed and removed is not None:
            removed(doomed)
        if len(listed) < page:
            break
        after = listed[-1].key
    log.info("media.sweep", listed=report.listed, removed=report.removed,
             needed=report.needed, recent=report.recent, pages=report.pages, dry_run=dry_run)
    return report


def read_models_caught_up(pool: AsyncPool, positions: ProjectionPositions, wait_s: float = 10.0
                          ) -> Callable[[], Awaitable[bool]]:
    """``caught_up()``: whether the read models reach the event log's head (as it was when
    called) within ``wait_s`` seconds."""

    async def caught_up() -> bool:
        head = await PostgresEventLogHead(pool).head()
        deadline = asyncio.get_running_loop().time() + wait_s
        while await positions.position(READ_MODELS) < head:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.2)
        return True

    return caught_up


async def sweep_with(settings: Settings, store: MediaStore, pool: AsyncPool,
                     positions: ProjectionPositions, *, dry_run: bool = False,
                     now: datetime | None = None,
                     removed: Callable[[Sequence[str]], object] | None = None
                     ) -> SweepReport:
    """One sweep over the settings' store and read models (the CLI's and the worker's)."""
    return await sweep_media(
        store, PostgresReadModelReader(pool), now=now or datetime.now(UTC),
        margin=timedelta(seconds=settings.media_sweep_margin_s),
        grace=timedelta(seconds=settings.media_orphan_grace_s),
        caught_up=read_models_caught_up(pool, positions), dry_run=dry_run, removed=removed)
