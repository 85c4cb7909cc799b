"""Whether a worker's projection loops are alive: each beats when it makes progress
or finds nothing to do; the heartbeat reports only what has beaten recently.

A timer alone would keep reporting "alive" from a process whose projection
loops are stuck or dead; the loops' own beats are what the heartbeat relays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class Liveness:
    def __init__(self, loops: Iterable[str], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.clock = clock
        self._beats = dict.fromkeys(loops, clock())

    def beat(self, loop: str) -> None:
        """``loop`` applied an event, or checked the event store and was up to date."""
        self._beats[loop] = self.clock()

    def silent(self, max_age_s: float) -> dict[str, float]:
        """Loops that have not beaten for more than ``max_age_s``: name -> seconds."""
        now = self.clock()
        return {name: round(now - at, 1) for name, at in self._beats.items()
                if now - at > max_age_s}
