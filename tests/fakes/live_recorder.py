"""A live-event publisher for projector tests (``ports.live.LiveEventPublisher``): it
records every event offered, whether or not anyone listens, and which it would
keep (ids growing per channel, as the live store keeps them)."""

from __future__ import annotations

from collections.abc import Sequence

from ports.live import LiveEvent


class RecordingPublisher:
    """Keeps every event offered (``offered``) and, like the real adapter, drops an
    event whose ``(position, seq)`` is not above its channel's last (``events``)."""

    def __init__(self) -> None:
        self.offered: list[LiveEvent] = []
        self.events: list[LiveEvent] = []
        self._last: dict[tuple[int, str], tuple[int, int]] = {}

    async def publish(self, events: Sequence[LiveEvent]) -> None:
        for event in events:
            self.offered.append(event)
            channel = (event.account_id, event.channel)
            if (event.position, event.seq) > self._last.get(channel, (0, -1)):
                self._last[channel] = (event.position, event.seq)
                self.events.append(event)
