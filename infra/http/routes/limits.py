"""The rate limits in force, so clients can pace themselves before they hit one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from infra.http.ratelimit import get_rate_limiter
from infra.http.schemas import ERROR_RESPONSES
from infra.rate_limiter import RateLimiter

router = APIRouter(prefix="/api", tags=["operations"], responses=ERROR_RESPONSES)


class RateLimitRule(BaseModel):
    action: str
    limit: int
    window_s: int
    scope: Literal["account", "ip"]


@router.get("/rate_limits", response_model=list[RateLimitRule])
async def rate_limits(
    limiter: Annotated[RateLimiter, Depends(get_rate_limiter)],
) -> list[dict[str, Any]]:
    """Per action and scope: at most ``limit`` requests per ``window_s`` seconds
    (after this environment's multiplier)."""
    return [asdict(rule) for rule in limiter.rules.values()]
