"""How a moment is written in the API and the published events (pure formatting)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """``2026-11-24T10:00:00.123Z``: UTC with milliseconds, as API.md fixes.

    A naive ``moment`` is taken to be UTC; an aware one is converted to UTC.
    """
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
