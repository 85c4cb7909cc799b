"""An in-memory ``ports.post_cache.PostCache``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from ports.errors import DependencyUnavailable
from ports.post_cache import COUNT_FIELDS, Counts, PostBody


class FakePostCache:
    """Bodies kept as JSON bytes (a read returns a copy, as Redis would), counts as
    dicts. ``unavailable = True`` makes every call fail as a store that is down:
    ``set_counts`` with ``DependencyUnavailable``, the readers' calls with the
    client's ``ConnectionError``."""

    def __init__(self) -> None:
        self.bodies: dict[int, bytes] = {}
        self.counts: dict[int, Counts] = {}
        self.unavailable = False

    def _check(self) -> None:
        if self.unavailable:
            raise ConnectionError("post cache: unavailable")

    async def get_many(self, post_ids: Sequence[int], bodies_needed: Sequence[int]
                       ) -> tuple[dict[int, PostBody], dict[int, Counts]]:
        self._check()
        bodies = {i: orjson.loads(self.bodies[i]) for i in bodies_needed if i in self.bodies}
        counts = {i: dict(self.counts[i]) for i in post_ids if i in self.counts}
        return bodies, counts

    async def fill(self, bodies: Mapping[int, PostBody], counts: Mapping[int, Counts]
                   ) -> None:
        self._check()
        self.bodies.update((i, orjson.dumps(body)) for i, body in bodies.items())
        for post_id, values in counts.items():
            self.counts.setdefault(post_id, {f: int(values[f]) for f in COUNT_FIELDS})

    async def set_counts(self, counts: Mapping[int, Counts]) -> None:
        if self.unavailable:
            raise DependencyUnavailable("post cache: unavailable")
        for post_id, values in counts.items():
            self.counts[post_id] = {f: int(values[f]) for f in COUNT_FIELDS}
            if values["deleted"]:
                self.bodies.pop(post_id, None)
