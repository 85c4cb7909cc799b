"""Search: posts and accounts (``GET /api/search``)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from infra.http.deps import Cursor, Limit, MinPosition, OptionalActor, Services, read_response
from infra.http.deps import wait_until_applied as wait
from infra.http.schemas import ERROR_RESPONSES, Account, Post, page_of
from infra.http.text import CleanText
from ports.projectors import READ_MODELS, SEARCH
from queries import search as search_queries

router = APIRouter(prefix="/api", tags=["search"], responses=ERROR_RESPONSES)
MAX_QUERY = 500

SearchText = Annotated[CleanText, Query(
    min_length=1, max_length=MAX_QUERY,
    description='Words, "phrases", #tags, from:username, before:YYYY-MM-DD, '
                "after:YYYY-MM-DD (posts); a username or display-name prefix (accounts)")]


@router.get("/search", response_model=page_of(Post) | page_of(Account),
            response_model_exclude_unset=True)
async def search(q: SearchText, services: Services, actor: OptionalActor, response: Response,
                 limit: Limit, min_position: MinPosition, cursor: Cursor = None,
                 type: Literal["posts", "accounts"] = "posts") -> Response:
    """Posts (best match blended with recency) or accounts (exact username first, then
    by followers); with a token, without accounts in a block with the reader (and,
    for posts, without the accounts the reader mutes). 503 while the index is down."""
    await wait(services, response, min_position, SEARCH, READ_MODELS)
    reader = actor.account_id if actor else None
    if type == "accounts":
        accounts = await search_queries.search_accounts(services.queries, services.search, q,
                                                        reader, cursor, limit)
        return read_response(accounts, response)
    found = await search_queries.search_posts(
        services.queries, services.search, q, reader, cursor, limit,
        now_ms=int(time.time() * 1000),
        half_life_days=services.settings.search_half_life_days)
    return read_response(found, response)
