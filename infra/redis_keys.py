"""The Redis key layout, shared by the timeline projector and the queries.

Home timelines are sorted sets whose members are post ids zero-padded to 19
digits, all with score 0. Redis orders equal-score members lexically, and
for equal-width decimals lexical order is numeric order, so ordering and
cursor paging (``ZRANGE ... BYLEX REV``) are exact for all 63-bit ids; a
double score could not hold such an id exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

ID_WIDTH = 19


def member(post_id: int) -> str:
    return f"{post_id:0{ID_WIDTH}d}"


def post_id_of(member_: str | bytes) -> int:
    return int(member_)


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """All keys live under one prefix, so a test run or a tenant owns its own."""

    prefix: str

    def home(self, account_id: int) -> str:
        return f"{self.prefix}home:{account_id}"

    def authored(self, account_id: int) -> str:
        """The author's most recent posts (the source of follow backfill)."""
        return f"{self.prefix}authored:{account_id}"

    def followers(self, account_id: int) -> str:
        return f"{self.prefix}followers:{account_id}"

    def projection_position(self, name: str) -> str:
        return f"{self.prefix}projection:{name}:position"

    def revoked_session(self, session_id: str) -> str:
        return f"{self.prefix}revoked:{session_id}"

    def timeline_patterns(self) -> tuple[str, ...]:
        """Everything the timeline projector owns (for a rebuild)."""
        return (f"{self.prefix}home:*", f"{self.prefix}authored:*", f"{self.prefix}followers:*")
