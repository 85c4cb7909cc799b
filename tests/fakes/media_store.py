"""An in-memory ``ports.media_store.MediaStore`` for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ports.errors import DependencyUnavailable
from ports.media_store import LIST_PAGE, StoredObject, check_key


class FakeMediaStore:
    """Objects in a dict; ``clock`` gives ``modified_at``; ``unavailable`` makes every
    call raise ``DependencyUnavailable``; ``puts`` counts writes; ``listed_pages``
    records each listing's ``(after, limit)``."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.unavailable = False
        self.puts = 0
        self.listed_pages: list[tuple[str, int]] = []  # (after, limit) of each listing

    def _check(self) -> None:
        if self.unavailable:
            raise DependencyUnavailable("fake media store is down")

    async def put(self, key: str, data: bytes) -> None:
        self._check()
        check_key(key)
        self.puts += 1
        kept = self.objects.get(key)
        self.objects[key] = (kept[0] if kept else data, self.clock())

    async def get(self, key: str) -> bytes | None:
        self._check()
        kept = self.objects.get(check_key(key))
        return kept[0] if kept else None

    async def size(self, key: str) -> int | None:
        self._check()
        kept = self.objects.get(check_key(key))
        return len(kept[0]) if kept else None

    async def delete(self, keys: Sequence[str]) -> None:
        self._check()
        for key in keys:
            self.objects.pop(check_key(key), None)

    async def list_objects(self, after: str = "", limit: int = LIST_PAGE
                           ) -> list[StoredObject]:
        self._check()
        self.listed_pages.append((after, limit))
        return [StoredObject(key, len(data), at)
                for key, (data, at) in sorted(self.objects.items()) if key > after][:limit]
