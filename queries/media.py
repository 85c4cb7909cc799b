"""Reading media: a medium's API object, where its bytes are, which are still served.

A medium is served while it is attached to a post that is not deleted, or is
unattached and younger than ``domain.media.UNATTACHED_TTL``; otherwise it is
``404`` (its files are the sweeper's). While its owner is suspended it is ``404``
too, but its files stay (the sweeper keeps them: the suspension may be lifted).
URLs point at the API (``/api/media/{id}/original`` and ``/small``), or, with a base URL
(``ROOST_MEDIA_BASE_URL``: the object store or a CDN in front of it), at
``<base>/<key>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from domain.errors import NotFound
from domain.media import UNATTACHED_TTL
from ports.projectors import READ_MODELS
from ports.read_model_reader import MediaRow
from ports.records import MediaBody
from queries.context import QueryContext
from queries.positions import wait_for_position
from queries.shapes import Media, media

Variant = Literal["original", "small"]
VARIANTS: tuple[Variant, ...] = ("original", "small")


def media_url(base_url: str | None, media_id: int, variant: Variant, key: str) -> str:
    """Where a variant's bytes are served: ``<base_url>/<key>``, or the API's own route."""
    if base_url:
        return f"{base_url.rstrip('/')}/{key}"
    return f"/api/media/{media_id}/{variant}"


def media_shape(base_url: str | None, stored: MediaBody) -> Media:
    """The API ``Media`` of a medium's stored facts (``ports.records.MediaBody``: a
    command's view, or a read-model row), its URLs under ``base_url`` (``media_url``)."""
    original, small = stored["original"], stored["small"]
    media_id = stored["id"]
    return media(id=media_id,
                 url=media_url(base_url, media_id, "original", original["key"]),
                 preview_url=media_url(base_url, media_id, "small", small["key"]),
                 description=stored["description"], blurhash=stored["blurhash"],
                 original=(original["width"], original["height"]),
                 small=(small["width"], small["height"]))


def is_served(row: MediaRow, now: datetime) -> bool:
    """Whether the medium's bytes and object are still shown (module doc); not while its
    owner is suspended (its objects are kept: the suspension may be lifted)."""
    if row["owner_suspended"]:
        return False
    if row["post_id"] is None:
        return now - row["created_at"] < UNATTACHED_TTL
    return not row["post_deleted"]


async def served_media(ctx: QueryContext, media_ids: Sequence[int]) -> dict[int, Media]:
    """The API ``Media`` of those of ``media_ids`` still served, by id."""
    if not media_ids:
        return {}
    now = datetime.now(UTC)
    return {row["id"]: media_shape(ctx.media_base_url, row)
            for row in await ctx.read_models.media(media_ids)
            if is_served(row, now)}


def media_not_found() -> NotFound:
    """The error of a medium that does not exist or is no longer served."""
    return NotFound("medium not found", code="media_not_found")


async def _served_row(ctx: QueryContext, media_id: int, catch_up_s: float = 0.0
                      ) -> MediaRow:
    """The medium's row if it is served. With ``catch_up_s``, a medium the read models
    do not have yet (a URL fetched right after its upload, which no header can tell
    to wait) waits up to that long for them to reach the end of the event log."""
    rows = await ctx.read_models.media([media_id])
    if not rows and catch_up_s > 0 and ctx.positions is not None:
        head = await ctx.event_log.head()
        if await wait_for_position(ctx, head, (READ_MODELS,), catch_up_s):
            rows = await ctx.read_models.media([media_id])
    if not rows or not is_served(rows[0], datetime.now(UTC)):
        raise media_not_found()
    return rows[0]


async def get_media(ctx: QueryContext, media_id: int) -> Media:
    """``GET /api/media/{id}``.

    Raises:
        NotFound: ``media_not_found``: no such medium, or it is no longer served.
    """
    return media_shape(ctx.media_base_url, await _served_row(ctx, media_id))


async def media_file(ctx: QueryContext, media_id: int, variant: Variant,
                     catch_up_s: float = 0.0) -> tuple[str, str]:
    """``(key, content type)`` of a served medium's variant, for its bytes; a medium the
    read models lack waits up to ``catch_up_s`` for them to catch up (``_served_row``).

    Raises:
        NotFound: as ``get_media``.
    """
    stored = (await _served_row(ctx, media_id, catch_up_s))[variant]
    return str(stored["key"]), str(stored["content_type"])
