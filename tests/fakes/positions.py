"""An in-memory ``ports.positions.ProjectionPositions``."""

from __future__ import annotations

from collections.abc import Sequence

from ports.projectors import PROJECTORS


class FakePositions:
    """Positions a test sets with ``record`` (as a projector's own write would)."""

    def __init__(self, **positions: int) -> None:
        self.recorded: dict[str, int] = dict(positions)
        self.reads: list[str] = []

    def record(self, projector: str, position: int) -> None:
        self.recorded[projector] = position

    async def position(self, projector: str) -> int:
        self.reads.append(projector)
        return self.recorded.get(projector, 0)

    async def positions(self, projectors: Sequence[str] = PROJECTORS) -> dict[str, int]:
        return {name: await self.position(name) for name in projectors}
