"""The media sweeper over the fakes, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.media_sweeper import SweepDeferred, sweep_media
from ports.media_store import media_key
from tests.fakes.media_store import FakeMediaStore
from tests.fakes.read_model_reader import (
    FakeReadModelReader,
    ReadModelTables,
    StoredMedia,
    StoredPost,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MARGIN, GRACE = timedelta(hours=1), timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def key(name: str) -> str:
    return media_key(name.encode(), "image/jpeg")


def stored(media_id: int, *, post_id: int | None = None, at: datetime = T0) -> StoredMedia:
    return StoredMedia(media_id, 1, {"key": key(f"o{media_id}")}, {"key": key(f"s{media_id}")},
                       post_id=post_id, created_at=at)


async def put_all(store: FakeMediaStore, *names: str) -> None:
    for name in names:
        await store.put(key(name), name.encode())


async def sweep(store: FakeMediaStore, reader: FakeReadModelReader, now: datetime,
                dry_run: bool = False, page: int = 1000) -> list[str]:
    """The keys a sweep removed (or, dry, would), as it handed them out page by page."""
    removed: list[str] = []
    report = await sweep_media(store, reader, now=now, margin=MARGIN, grace=GRACE,
                               dry_run=dry_run, page=page, removed=removed.extend)
    assert report.removed == len(removed)
    return sorted(removed)


async def test_unattached_media_go_after_24_hours_and_the_margin() -> None:
    clock = Clock()
    store = FakeMediaStore(clock)
    await put_all(store, "o1", "s1", "o2", "s2")
    reader = FakeReadModelReader(ReadModelTables(
        posts=[StoredPost(20, 1, media_ids=[2])],
        media=[stored(1), stored(2, post_id=20)]))
    assert await sweep(store, reader, T0 + timedelta(hours=24, minutes=59)) == []
    clock.now = T0 + timedelta(hours=26)
    expired = T0 + timedelta(hours=25, seconds=1)
    assert await sweep(store, reader, expired, dry_run=True) == sorted([key("o1"), key("s1")])
    assert len(store.objects) == 4  # a dry run removes nothing
    assert await sweep(store, reader, expired) == sorted([key("o1"), key("s1")])
    assert sorted(store.objects) == sorted([key("o2"), key("s2")])  # attached: kept


async def test_a_deleted_posts_media_and_orphans_go_after_the_grace_period() -> None:
    clock = Clock()
    store = FakeMediaStore(clock)
    await put_all(store, "o3", "s3", "orphan")
    reader = FakeReadModelReader(ReadModelTables(
        posts=[StoredPost(30, 1, deleted=True, media_ids=[3])],
        media=[stored(3, post_id=30)]))
    assert await sweep(store, reader, T0 + timedelta(minutes=59)) == []  # all recent
    doomed = sorted([key("o3"), key("s3"), key("orphan")])
    assert await sweep(store, reader, T0 + GRACE + timedelta(seconds=1)) == doomed
    assert store.objects == {}


async def test_a_rewritten_object_is_recent_again_and_a_shared_key_is_kept() -> None:
    clock = Clock()
    store = FakeMediaStore(clock)
    await put_all(store, "orphan", "o4", "s4")
    clock.now = T0 + timedelta(hours=3)
    await put_all(store, "orphan")  # an upload of the same bytes, whose event is to come
    shared = StoredMedia(5, 1, {"key": key("o4")}, {"key": key("s4")}, created_at=T0)
    reader = FakeReadModelReader(ReadModelTables(
        posts=[StoredPost(40, 1, media_ids=[6])],
        media=[shared, StoredMedia(6, 1, {"key": key("o4")}, {"key": key("s4")}, post_id=40,
                                   created_at=T0)]))
    assert await sweep(store, reader, T0 + timedelta(hours=3, minutes=30)) == []
    # o4/s4: medium 5 expired but medium 6 (same bytes) is on a live post.
    assert await sweep(store, reader, T0 + timedelta(hours=30)) == [key("orphan")]


async def test_nothing_is_removed_while_the_read_models_lag() -> None:
    store = FakeMediaStore()
    await put_all(store, "orphan")

    async def behind() -> bool:
        return False

    with pytest.raises(SweepDeferred):
        await sweep_media(store, FakeReadModelReader(), now=T0 + timedelta(days=9),
                          margin=MARGIN, grace=GRACE, caught_up=behind)
    assert len(store.objects) == 1


async def test_a_store_larger_than_a_page_is_swept_a_page_at_a_time() -> None:
    """23 objects, pages of 5: every page is listed after the previous one's last key
    and its keys alone are checked against the read models (memory: one page), and
    exactly the doomed objects go, whichever page they are on."""
    clock = Clock()
    store = FakeMediaStore(clock)
    media = [stored(n, post_id=100 + n if n % 3 == 0 else None,
                    at=T0 - timedelta(days=2) if n % 2 else T0) for n in range(1, 10)]
    posts = [StoredPost(100 + n, 1, media_ids=[n], deleted=n == 9) for n in (3, 6, 9)]
    await put_all(store, *(f"{kind}{n}" for n in range(1, 10) for kind in "os"),
                  *(f"orphan{n}" for n in range(5)))
    assert len(store.objects) == 23
    reader = FakeReadModelReader(ReadModelTables(posts=posts, media=media))
    now = T0 + GRACE + timedelta(seconds=1)
    # Kept: attached to a live post (3, 6); unattached and recent (even n: 2, 4, 8).
    # Gone: unattached and old (1, 5, 7), on a deleted post (9), the orphans.
    doomed = sorted([key(f"{kind}{n}") for n in (1, 5, 7, 9) for kind in "os"]
                    + [key(f"orphan{n}") for n in range(5)])
    assert await sweep(store, reader, now, dry_run=True, page=5) == doomed
    assert len(store.objects) == 23
    assert reader.live_media_key_pages == [5, 5, 5, 5, 3]
    assert [limit for _, limit in store.listed_pages] == [5] * 5
    afters = [after for after, _ in store.listed_pages]
    assert afters[0] == "" and afters == sorted(afters) and len(set(afters)) == 5
    store.listed_pages.clear()
    assert await sweep(store, reader, now, page=5) == doomed
    assert sorted(store.objects) == sorted(
        key(f"{kind}{n}") for n in (2, 3, 4, 6, 8) for kind in "os")
    assert await sweep(store, reader, now, page=5) == []  # 10 left: two full pages, one empty
    assert len(store.listed_pages) == 5 + 3


async def test_an_exact_multiple_of_the_page_ends_on_an_empty_page() -> None:
    store = FakeMediaStore(Clock())
    await put_all(store, *(f"orphan{n}" for n in range(4)))
    report = await sweep_media(store, FakeReadModelReader(), now=T0 + timedelta(days=9),
                               margin=MARGIN, grace=GRACE, page=2)
    assert (report.listed, report.removed, report.pages) == (4, 4, 2)
    assert store.objects == {} and len(store.listed_pages) == 3
