"""Trending hashtags (``GET /api/trends/tags``)."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Response

from infra.http.deps import MinPosition, Services, read_response, wait_until_applied
from infra.http.schemas import ERROR_RESPONSES, TrendingTags
from ports.projectors import TRENDS
from queries.trends import trending_tags

router = APIRouter(prefix="/api/trends", tags=["trends"], responses=ERROR_RESPONSES)


@router.get("/tags", response_model=TrendingTags)
async def tags(services: Services, response: Response, min_position: MinPosition,
               window: Literal["1h", "4h", "24h"] = "1h") -> Response:
    """Hashtags rising in the window against their own baseline; each used by at least
    ``ROOST_TRENDS_MIN_AUTHORS`` accounts (docs/architecture.md, "Trends"). The answer
    is shared by every reader for ``ROOST_TRENDS_CACHE_S``, except by one that asks
    for its own writes (``Roost-Min-Position``): that one is computed afresh."""
    await wait_until_applied(services, response, min_position, TRENDS)
    found = await trending_tags(
        services.trends, window, int(time.time()),
        min_authors=services.settings.trends_min_authors,
        cache=services.trends if min_position is None else None,
        cache_s=services.settings.trends_cache_s)
    return read_response(found, response)
