"""The media store: image bytes under content-addressed keys (``domain.media``).

A key is ``<aa>/<bb>/<sha256 hex>.<ext>`` of the bytes stored under it
(``media_key``), so writing the same image twice writes one object and an
object never changes once written. Uploads write their objects *before* the
``MediaUploaded`` event is appended: a crash between the two leaves an orphan
object (the sweeper removes it), never an event naming nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

EXTENSIONS: Final = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
                     "image/gif": "gif"}
"""The content types the store holds, with the extension their keys end in."""
CONTENT_TYPES: Final = {ext: content_type for content_type, ext in EXTENSIONS.items()}
KEY_PATTERN: Final = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png|webp|gif)$")
LIST_PAGE: Final = 1000
"""Objects per ``list_objects`` page by default (S3's ListObjectsV2 page)."""


def media_key(data: bytes, content_type: str) -> str:
    """The content-addressed key of ``data``: ``<aa>/<bb>/<sha256 hex>.<ext>``.

    Raises:
        KeyError: ``content_type`` is none of ``EXTENSIONS``.
    """
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}.{EXTENSIONS[content_type]}"


def digest_of(key: str) -> str:
    """The sha256 hex of the bytes a key names (a strong ETag for them)."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def content_type_of(key: str) -> str:
    """The content type a key's extension names."""
    return CONTENT_TYPES[key.rsplit(".", 1)[-1]]


def check_key(key: str) -> str:
    """``key`` if it has the shape of ``media_key``'s keys.

    Raises:
        ValueError: it has not (so no key can name a path outside the store).
    """
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError(f"not a media key: {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object the store lists: its key, size in bytes, and when it was last written
    (UTC)."""

    key: str
    size: int
    modified_at: datetime


class MediaStore(Protocol):
    """Where image bytes live (a directory in development, an S3 bucket in production).

    Every method raises ``ports.errors.DependencyUnavailable`` when the store cannot be
    reached or fails, and ``ValueError`` for a key not of ``media_key``'s shape.
    """

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (``media_key(data, type)``) durably before
        returning; writing a key again keeps the bytes and renews its ``modified_at``
        (so a sweep that started before a re-upload does not remove it)."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or ``None`` when there are none."""
        ...

    async def size(self, key: str) -> int | None:
        """How many bytes are under ``key``, or ``None`` when there are none, without
        reading them (a ``HEAD`` of the bytes: one metadata call)."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove the objects under ``keys``; absent ones are no error."""
        ...

    async def list_objects(self, after: str = "", limit: int = LIST_PAGE
                           ) -> list[StoredObject]:
        """One page: the first ``limit`` (>= 1) objects whose keys sort after ``after``
        (``""``: from the start), in key order. Fewer than ``limit`` only when no more
        exist, so a caller pages with ``after=page[-1].key`` until a short page; memory
        is bounded by ``limit``, not by the store's size."""
        ...
