"""A ``commands.ports.SessionRevocations`` in memory, for handler tests without Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class MemoryRevocations:
    """Ended sessions, each until its expiry (seconds on ``clock``), as Redis keeps them;
    suspended accounts (``suspended``), until unmarked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.expiries: dict[str, float] = {}
        self.suspended: set[int] = set()

    def revoke(self, session_id: str, ttl_s: int) -> None:
        self.expiries[session_id] = self.clock() + max(ttl_s, 1)

    def set_account_suspended(self, account_id: int, suspended: bool) -> None:
        if suspended:
            self.suspended.add(account_id)
        else:
            self.suspended.discard(account_id)

    def ttl(self, session_id: str) -> int | None:
        """Whole seconds left of ``session_id``'s revocation; ``None`` when not revoked."""
        left = self.expiries.get(session_id, 0.0) - self.clock()
        return math.ceil(left) if left > 0 else None
