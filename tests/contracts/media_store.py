"""The contract of ``ports.media_store.MediaStore``, for the fake, the filesystem store
and the S3 store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ports.errors import DependencyUnavailable
from ports.media_store import MediaStore, digest_of, media_key

JPEG = b"\xff\xd8\xff\xe0 not really a jpeg, bytes are bytes" * 100


class MediaStoreContract:
    """Fixtures: ``store`` (empty) and ``unreachable`` (a store whose service is down)."""

    async def test_put_then_get_returns_the_bytes_intact(self, store: MediaStore) -> None:
        data = bytes(range(256)) * 300
        key = media_key(data, "image/png")
        assert await store.get(key) is None
        await store.put(key, data)
        assert await store.get(key) == data
        assert digest_of(key) in key and key.endswith(".png")

    async def test_size_without_the_bytes(self, store: MediaStore) -> None:
        key = media_key(JPEG, "image/jpeg")
        assert await store.size(key) is None
        await store.put(key, JPEG)
        assert await store.size(key) == len(JPEG)
        await store.delete([key])
        assert await store.size(key) is None
        with pytest.raises(ValueError, match="not a media key"):
            await store.size("../x")

    async def test_listing_has_key_size_and_a_recent_time(self, store: MediaStore) -> None:
        keys = sorted(media_key(JPEG + bytes([i]), "image/jpeg") for i in range(3))
        before = datetime.now(UTC) - timedelta(seconds=5)
        for key in keys:
            await store.put(key, JPEG + bytes([int(key != keys[0])]))
        listed = await store.list_objects()
        assert [o.key for o in listed] == keys
        assert all(o.size == len(JPEG) + 1 for o in listed)
        assert all(before <= o.modified_at <= datetime.now(UTC) + timedelta(seconds=5)
                   for o in listed)

    async def test_listing_pages_after_a_key(self, store: MediaStore) -> None:
        """Pages of ``limit`` in key order, each after the last key of the one before;
        a short page is the last; what follows the last key is nothing."""
        keys = sorted(media_key(JPEG + bytes([i]), "image/jpeg") for i in range(7))
        for key in keys:
            await store.put(key, JPEG)
        pages, after = [], ""
        while True:
            page = [o.key for o in await store.list_objects(after, 3)]
            pages.append(page)
            if len(page) < 3:
                break
            after = page[-1]
        assert pages == [keys[:3], keys[3:6], keys[6:]]
        assert [o.key for o in await store.list_objects(keys[1], 2)] == keys[2:4]
        assert await store.list_objects(keys[-1]) == []
        assert [o.key for o in await store.list_objects("", 1000)] == keys

    async def test_a_second_put_keeps_the_bytes_and_renews_the_time(
        self, store: MediaStore,
    ) -> None:
        key = media_key(JPEG, "image/jpeg")
        await store.put(key, JPEG)
        first = (await store.list_objects())[0].modified_at
        await store.put(key, JPEG)
        listed = await store.list_objects()
        assert len(listed) == 1 and listed[0].modified_at >= first
        assert await store.get(key) == JPEG

    async def test_delete_removes_and_ignores_missing(self, store: MediaStore) -> None:
        gone, kept = media_key(JPEG, "image/jpeg"), media_key(JPEG + b"!", "image/jpeg")
        await store.put(gone, JPEG)
        await store.put(kept, JPEG + b"!")
        await store.delete([gone, media_key(b"never stored", "image/gif")])
        assert await store.get(gone) is None
        assert [o.key for o in await store.list_objects()] == [kept]
        await store.delete([])

    @pytest.mark.parametrize("key", ["../../etc/passwd", "ab/cd/x.jpg", "", "a" * 64])
    async def test_a_key_of_another_shape_is_refused(self, store: MediaStore,
                                                     key: str) -> None:
        with pytest.raises(ValueError, match="not a media key"):
            await store.get(key)
        with pytest.raises(ValueError, match="not a media key"):
            await store.put(key, b"x")

    async def test_an_unreachable_store_raises_dependency_unavailable(
        self, unreachable: MediaStore,
    ) -> None:
        key = media_key(JPEG, "image/jpeg")
        with pytest.raises(DependencyUnavailable):
            await unreachable.put(key, JPEG)
        with pytest.raises(DependencyUnavailable):
            await unreachable.get(key)
        with pytest.raises(DependencyUnavailable):
            await unreachable.size(key)
        with pytest.raises(DependencyUnavailable):
            await unreachable.list_objects()
