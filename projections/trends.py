"""The trends projection: each post's hashtags, counted where trends are scored.

Only ``PostCreated`` counts: each of its hashtags is a ``TagUse`` at the post's
time, keyed by a digest of its normalised text (lower case, NFC, blanks
collapsed, links and mentions dropped), so one text posted by many accounts
counts once; weighted by the author's age at the time of the post (from the
Snowflake id: an account ``new_account_days`` old or more weighs 1, a newer one
in proportion, never below 0.1). Deleting a post does not uncount it: trends
measure what was posted.

A suspended account's posts count for nothing from its suspension on (until it is
lifted): the counters keep which accounts are suspended (``Suspension``, recorded
with the batch), read once per batch for its authors, then followed event by
event. Uses counted before the suspension stay counted, as a deleted post's do
(HyperLogLogs cannot forget an author); they leave the windows as their buckets
age out.

A batch is recorded at once with its position (``TrendCounterWriter.record``),
so each event is counted exactly once, whatever is redelivered or re-applied.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime

from domain.ids import snowflake_time_ms
from ports.events import EventEnvelope
from ports.projectors import TRENDS
from ports.trends import DAY_S, Suspension, TagUse, TrendCounterWriter
from projections.base import StoreProjector, after

MIN_WEIGHT = 0.1
_SUSPENSIONS = frozenset({"AccountSuspended", "AccountUnsuspended"})
_NOISE = re.compile(r"https?://\S+|(?<![\w@])@\w+")


def text_key(text: str) -> str:
    """A digest of the text as people would call it "the same post"."""
    normal = " ".join(_NOISE.sub(" ", unicodedata.normalize("NFC", text).lower()).split())
    return hashlib.blake2b(normal.encode(), digest_size=10).hexdigest()


def account_weight(author_id: int, at_ms: int, new_account_days: float) -> float:
    """1 for an account at least ``new_account_days`` old at ``at_ms``; less, in
    proportion, for a newer one; never below ``MIN_WEIGHT``."""
    age_days = (at_ms - snowflake_time_ms(author_id)) / (DAY_S * 1000)
    return min(1.0, max(MIN_WEIGHT, age_days / new_account_days))


def tag_uses(event: EventEnvelope, new_account_days: float) -> list[TagUse]:
    """The uses a ``PostCreated`` makes (none for any other event). Raises ``KeyError``
    / ``TypeError`` / ``ValueError`` for a payload of the wrong shape."""
    if event.type != "PostCreated":
        return []
    p = event.payload
    tags, text, author = p["hashtags"], p["text"], p["author_id"]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) \
            or not isinstance(text, str) or isinstance(author, bool) \
            or not isinstance(author, int):
        raise TypeError("PostCreated payload of the wrong shape")
    at_ms = round(datetime.fromisoformat(event.occurred_at).timestamp() * 1000)
    weight = account_weight(author, at_ms, new_account_days)
    key = text_key(text)
    return [TagUse(tag, at_ms // 1000, key, author, weight) for tag in dict.fromkeys(tags)]


class TrendsProjector(StoreProjector[TrendCounterWriter]):
    """The ``trends`` projector (Redis counters, through ``TrendCounterWriter``)."""

    name = TRENDS

    def __init__(self, counters: TrendCounterWriter, new_account_days: float = 30.0) -> None:
        self.store = counters
        self.new_account_days = new_account_days

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        fresh = after(await self.store.position(), events, expected_position)
        if fresh:
            uses, suspensions = await self._fold(fresh)
            await self.store.record(uses, first=fresh[0].position, upto=fresh[-1].position,
                                    suspensions=suspensions)

    async def replay(self, event: EventEnvelope) -> None:
        """Count a parked event (it was never counted: it was parked instead), or apply
        a parked suspension (unless a newer one of the account is recorded)."""
        uses, suspensions = await self._fold([event])
        await self.store.record(uses, first=0, upto=None, suspensions=suspensions)

    async def _fold(self, events: Sequence[EventEnvelope]
                    ) -> tuple[list[TagUse], list[Suspension]]:
        """The uses of the events whose authors are not suspended at that point, and the
        suspensions the events make, in order."""
        per_event = [(e, tag_uses(e, self.new_account_days)) for e in events]
        accounts = {use.author_id for _, uses in per_event for use in uses}
        suspensions = [Suspension(_account(e), e.position, e.type == "AccountSuspended")
                       for e in events if e.type in _SUSPENSIONS]
        accounts |= {s.account_id for s in suspensions}
        if not suspensions and not accounts:
            return [], []
        suspended = await self.store.suspended(sorted(accounts))
        counted: list[TagUse] = []
        for event, uses in per_event:
            if event.type in _SUSPENSIONS:
                change = (_account(event), event.type == "AccountSuspended")
                (suspended.add if change[1] else suspended.discard)(change[0])
            counted += [use for use in uses if use.author_id not in suspended]
        return counted, suspensions

    async def advance(self, position: int) -> None:
        current = await self.store.position()
        if position > current:
            await self.store.record([], first=current + 1, upto=position)


def _account(event: EventEnvelope) -> int:
    """The account of a suspension event; ``TypeError`` for a payload of the wrong shape."""
    value = event.payload["account_id"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{event.type} payload of the wrong shape")
    return value
