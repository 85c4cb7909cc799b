"""The post cache: posts' immutable bodies and their live counts, kept apart.

A post's body never changes, so a reader that loaded it caches it as is. Its
counts and deleted flag change, so they live apart: the read-model projector
writes them (absolute values) just before each commit, and a reader filling
the cache only creates them where none exist, so it never puts back counts
older than the projector's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from ports import records

COUNT_FIELDS: Final = ("likes_count", "replies_count", "reposts_count", "deleted")
"""The fields of a post's ``Counts``, each an ``int`` (``deleted`` is 0 or 1)."""

Counts = dict[str, int]
"""``{field: value}`` for every one of ``COUNT_FIELDS``."""

PostBody = records.PostBody[str]
"""The immutable part of a post, as the post cache keeps it (one JSON object): the
record ``ports.records.PostBody``, ids as integers, ``created_at`` already RFC 3339
text. ``media_ids`` is absent from bodies cached before media existed; the media
themselves (whose descriptions change) are read beside the body."""


class PostCountsSink(Protocol):
    """Where the read-model projector sends fresh counts, before its transaction commits."""

    async def set_counts(self, counts: Mapping[int, Counts]) -> None:
        """Store ``counts`` (post id → every one of ``COUNT_FIELDS``) as the truth,
        replacing what is there; a post marked deleted loses its cached body.

        Raises:
            ports.errors.DependencyUnavailable: the store failed (down, out of memory,
                read-only): the projector's transaction rolls back and is retried.
        """
        ...


class PostCache(PostCountsSink, Protocol):
    """Bodies and counts of posts, read and filled by hydration (``queries.hydration``)."""

    async def get_many(self, post_ids: Sequence[int], bodies_needed: Sequence[int]
                       ) -> tuple[dict[int, PostBody], dict[int, Counts]]:
        """``(bodies, counts)``: the cached bodies of ``bodies_needed`` and the cached
        counts of ``post_ids``, in one round trip. A post with nothing cached is absent
        from the dictionary concerned."""
        ...

    async def fill(self, bodies: Mapping[int, PostBody], counts: Mapping[int, Counts]
                   ) -> None:
        """Cache what a reader loaded from the read models: every body, and the counts
        of a post only where the cache holds none (newer ones may be there)."""
        ...
