"""Image validation and processing (``infra.media_processing``), in this process."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from structlog.testing import capture_logs

from infra.media_processing import (
    PARENT_CHECK_S,
    WORKER_NICE,
    ImageRefused,
    MediaProcessor,
    StoreFactory,
    WorkerPriority,
    process_image,
)
from infra.media_store import FilesystemMediaStore
from ports.errors import DependencyUnavailable, Overloaded
from ports.media_store import MediaStore
from tests.images import GPS_IFD, UNCOMMON, Uncommon, gif, photo, png_header_bomb


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_gps_exif_is_stripped_and_the_orientation_applied() -> None:
    source = photo(1200, 800, orientation=6)
    assert GPS_IFD in Image.open(io.BytesIO(source)).getexif()  # the input has GPS
    result = process_image(source)
    for variant in (result.original, result.small):
        image = opened(variant.data)
        assert dict(image.getexif()) == {}
        assert not {"exif", "xmp", "icc_profile", "comment", "photoshop"} & set(image.info)
        assert b"Exif" not in variant.data and b"Roost Test Camera" not in variant.data
        assert variant.content_type == "image/jpeg" and image.format == "JPEG"
    # Orientation 6: the stored picture is turned a quarter clockwise, upright.
    assert (result.original.width, result.original.height) == (800, 1200)
    upright = opened(result.original.data).convert("RGB")
    pixel = upright.getpixel((upright.width - 5, upright.height // 2))
    assert isinstance(pixel, tuple)
    r, g, b = pixel
    assert b > 200 and r < 60 and g < 60  # the top band is now the right-hand edge


def test_variants_sizes_and_blurhash() -> None:
    result = process_image(photo(5000, 3000, orientation=1, gps=False))
    assert (result.original.width, result.original.height) == (4096, 2458)
    assert (result.small.width, result.small.height) == (640, 384)
    assert len(result.blurhash) == 4 + 2 * 4 * 3  # 4x3 components
    small = process_image(photo(300, 200, orientation=1))
    assert (small.original.width, small.small.width) == (300, 300)  # never enlarged


@pytest.mark.parametrize("fmt, content_type", [("PNG", "image/png"),
                                               ("WEBP", "image/webp")])
def test_png_and_webp_keep_their_kind_without_metadata(fmt: str, content_type: str) -> None:
    result = process_image(photo(700, 500, fmt=fmt))
    assert result.original.content_type == content_type
    assert dict(opened(result.original.data).getexif()) == {}
    assert max(result.small.width, result.small.height) == 640


def test_a_gif_is_its_first_frame() -> None:
    result = process_image(gif())
    image = opened(result.original.data).convert("RGB")
    assert result.original.content_type == "image/png"
    assert image.getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize("data, status", [
    (b"%PDF-1.7\n1 0 obj<<>>endobj\n", 415),
    (b"", 415),
    (b"GIF89a", 422),
    (photo()[:4000], 422),  # truncated
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 422),
])
def test_refusals_by_content(data: bytes, status: int) -> None:
    with pytest.raises(ImageRefused) as caught:
        process_image(data)
    assert caught.value.status == status


@pytest.mark.parametrize("side", [6400, 50_000, 2**31 - 1])
def test_a_decompression_bomb_is_refused_from_its_header(side: int) -> None:
    """Claimed pixels above the limit are 413 before a pixel is decoded (the body is
    1 KiB of zeros: decoding it would fail, so a 413 shows nothing was decoded)."""
    with pytest.raises(ImageRefused) as caught:
        process_image(png_header_bomb(side, side))
    assert (caught.value.status, caught.value.code) == (413, "image_too_large")


def test_more_bytes_than_the_limit_is_413() -> None:
    with pytest.raises(ImageRefused) as caught:
        process_image(photo(), max_bytes=1000)
    assert caught.value.status == 413


PREFIXES = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"]


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=2048))
def test_garbage_is_refused_never_raised(prefix: bytes, body: bytes) -> None:
    """Any bytes: clean variants or an ``ImageRefused`` of 413, 415 or 422, nothing else."""
    try:
        result = process_image(prefix + body)
    except ImageRefused as refused:
        assert refused.status in (413, 415, 422)
    else:
        assert result.original.width >= 1


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), flips=st.lists(
    st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)), max_size=8))
def test_damaged_real_images_are_refused_or_clean(cut: int, flips: list[tuple[int, int]]
                                                  ) -> None:
    data = bytearray(SOURCE[:len(SOURCE) - cut])
    for at, value in flips:
        if at < len(data):
            data[at] = value
    try:
        result = process_image(bytes(data))
    except ImageRefused as refused:
        assert refused.status in (413, 415, 422)
    else:
        assert dict(opened(result.original.data).getexif()) == {}


SOURCE = photo(320, 240)


def files(root: Path) -> list[Path]:
    """Every file under ``root`` (objects and temporary files alike)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """Where the pool processes' filesystem media store writes."""
    return tmp_path / "media"


@pytest.fixture
def in_dir(store_root: Path) -> StoreFactory:
    """A pool's store factory: the filesystem store at ``store_root`` (picklable)."""
    return functools.partial(FilesystemMediaStore, store_root)


async def test_the_pool_sends_refusals_back_and_survives_a_dead_worker(
        in_dir: StoreFactory) -> None:
    """Refusals cross the process boundary intact; a worker killed mid-way is a
    ``DependencyUnavailable`` and the next upload gets a fresh pool."""
    processor = MediaProcessor(1, in_dir)
    try:
        with pytest.raises(ImageRefused) as caught:
            await processor.process(photo()[:3000])  # truncated: refused by the pool
        assert (caught.value.status, caught.value.code) == (422, "image_undecodable")
        for process in processor.pool()._processes.values():
            process.kill()
        with pytest.raises(DependencyUnavailable):
            await processor.process(photo(64, 48))
        assert (await processor.process(photo(64, 48))).original["width"] == 48
    finally:
        processor.close()


async def test_close_returns_once_the_pool_processes_have_exited(in_dir: StoreFactory
                                                                   ) -> None:
    """Nothing of the pool outlives ``close`` (a process left running when the API
    exits leaves its semaphores to the resource tracker, which warns on stderr)."""
    processor = MediaProcessor(2, in_dir)
    assert (await processor.process(photo(64, 48))).original["width"] == 48
    processes = list(processor.pool()._processes.values())
    assert processes
    processor.close()
    assert [p.exitcode for p in processes if p.exitcode is None] == []


class RecordingStore(FilesystemMediaStore):
    """The filesystem store, appending ``<key>\\n`` to ``log`` once each ``put`` has
    returned (so once the object is durable: the store fsyncs it and its directory)."""

    def __init__(self, root: Path, log: Path) -> None:
        super().__init__(root)
        self.log = log

    async def put(self, key: str, data: bytes) -> None:
        await super().put(key, data)
        with self.log.open("a") as log:
            log.write(f"{key}\n")


async def test_the_pool_stores_both_variants_durably_before_it_answers(
        store_root: Path, tmp_path: Path) -> None:
    """The pool process writes both variants to its own store and answers with their
    keys, sizes and the blurhash only after both puts returned (the store's durable
    write); what the store holds is the variants the keys name."""
    log = tmp_path / "puts.log"
    processor = MediaProcessor(1, functools.partial(RecordingStore, store_root, log))
    try:
        stored = await processor.process(photo(1200, 800, orientation=6))
        assert sorted(log.read_text().split()) == sorted(
            [stored.original["key"], stored.small["key"]])  # both puts returned first
        reader = FilesystemMediaStore(store_root)
        for variant, size in ((stored.original, (800, 1200)), (stored.small, (427, 640))):
            data = await reader.get(variant["key"])
            assert data is not None and len(data) == variant["bytes"]
            assert hashlib.sha256(data).hexdigest() in variant["key"]
            assert opened(data).size == size == (variant["width"], variant["height"])
            assert variant["content_type"] == "image/jpeg"
        assert len(stored.blurhash) == 28
        assert len(files(store_root)) == 2  # no temporary file left
    finally:
        processor.close()


REFUSED = [(b"%PDF-1.4 not an image", 415), (photo()[:3000], 422),
           (png_header_bomb(10_000, 10_000), 413)]


@pytest.mark.parametrize(("data", "status"), REFUSED, ids=["pdf", "truncated", "bomb"])
async def test_a_refused_upload_writes_nothing_from_the_pool(
        in_dir: StoreFactory, store_root: Path, data: bytes, status: int) -> None:
    processor = MediaProcessor(1, in_dir)
    try:
        with pytest.raises(ImageRefused) as refused:
            await processor.process(data)
        assert refused.value.status == status
        assert files(store_root) == []
        await processor.process(photo(800, 600))  # the same pool writes a good one
        assert len(files(store_root)) == 2
    finally:
        processor.close()


def unwritable(root: Path) -> MediaStore:
    """A filesystem store whose root is a file: every put fails."""
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(b"")
    return FilesystemMediaStore(root)


async def test_a_store_failure_in_the_pool_is_dependency_unavailable(tmp_path: Path) -> None:
    """The pool's store fails: the upload is ``DependencyUnavailable`` (503), nothing is
    answered as stored, and the pool keeps serving."""
    processor = MediaProcessor(1, functools.partial(unwritable, tmp_path / "not-a-dir"))
    try:
        for _ in range(2):
            with pytest.raises(DependencyUnavailable) as failed:
                await processor.process(photo(64, 48))
            assert "media store" in str(failed.value)
        assert processor.pending == 0
    finally:
        processor.close()


@pytest.mark.parametrize("case", UNCOMMON, ids=[c.name for c in UNCOMMON])
def test_less_common_inputs_become_8_bit_srgb(case: Uncommon) -> None:
    """16-bit, CMYK, palette with transparency, grey with alpha, animated: each variant
    is 8-bit RGB(A) of the right size, colours kept (16-bit grey scaled, not clipped)."""
    result = process_image(case.make(1000, 700))
    assert result.icc_error is None
    case.check(result.original.data, (1000, 700))
    case.check(result.small.data, (640, 448))
    assert (result.small.width, result.small.height) == (640, 448)
    assert result.original.content_type == case.content_type


def broken_icc_jpeg() -> bytes:
    """A JPEG whose embedded "ICC profile" is not one."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(out, "JPEG",
                                                   icc_profile=b"not an ICC profile" * 8)
    return out.getvalue()


def test_an_unusable_icc_profile_is_ignored_and_named() -> None:
    result = process_image(broken_icc_jpeg())
    assert result.icc_error is not None and result.icc_error.startswith("RGB: ")
    stored = opened(result.original.data)
    assert "icc_profile" not in stored.info and stored.size == (64, 48)
    assert process_image(photo(64, 48)).icc_error is None


async def test_the_pool_bounds_its_jobs_and_logs_an_ignored_profile(
        in_dir: StoreFactory) -> None:
    """Past ``max_pending`` jobs (processed or queued) a job is refused at once with a
    Retry-After; slots free when jobs end. An ignored ICC profile is a warning."""
    processor = MediaProcessor(1, in_dir, max_pending=2)
    try:
        with capture_logs() as logs:
            first = asyncio.ensure_future(processor.process(photo(64, 48)))
            second = asyncio.ensure_future(processor.process(broken_icc_jpeg()))
            await asyncio.sleep(0)  # a yield: both run up to their wait on the pool
            assert processor.pending == 2  # the pool is still starting its process
            with pytest.raises(Overloaded) as refused:
                await processor.process(photo(64, 48))
            assert refused.value.retry_after_s >= 1 and processor.pending == 2
            assert (await first).original["width"] == 48
            assert (await second).icc_error is not None
        assert processor.pending == 0
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("media.icc_profile_ignored", "warning")]
        assert logs[0]["error"].startswith("RGB: ")
        assert (await processor.process(photo(64, 48))).small["width"] == 48
    finally:
        processor.close()


ORPHAN_SCRIPT = """
import asyncio
import functools
import sys
from infra.media_processing import MediaProcessor
from infra.media_store import FilesystemMediaStore
from tests.images import photo

async def main() -> None:
    processor = MediaProcessor(2, functools.partial(FilesystemMediaStore, sys.argv[1]))
    await asyncio.gather(*(processor.process(photo(64, 48, seed=n)) for n in range(2)))
    print(*processor.pool()._processes, flush=True)
    await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_pool_processes_exit_when_their_api_process_is_killed(store_root: Path) -> None:
    """SIGKILL of the process that owns the pool (no shutdown code runs): its pool
    processes notice and exit within a few seconds instead of waiting forever."""
    owner = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT, str(store_root)],
                             stdout=subprocess.PIPE,
                             cwd=Path(__file__).parents[2])
    try:
        assert owner.stdout is not None
        pids = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    finally:
        owner.kill()
        owner.wait(10)
    deadline = time.monotonic() + 10 * PARENT_CHECK_S
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"pool processes {pids} outlived their owner"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(("priority", "scheduler"), [("idle", os.SCHED_IDLE),
                                                     ("nice", os.SCHED_OTHER)])
def test_pool_processes_run_below_the_api(priority: WorkerPriority, scheduler: int,
                                          in_dir: StoreFactory) -> None:
    """``idle``: SCHED_IDLE, the CPU only when nothing else wants it; ``nice``: the
    normal class at WORKER_NICE. Either way never above the API."""
    processor = MediaProcessor(1, in_dir, priority=priority)
    try:
        assert processor.pool().submit(os.sched_getscheduler, 0).result(timeout=60) == scheduler
        niceness = processor.pool().submit(os.getpriority, os.PRIO_PROCESS, 0).result(60)
        assert niceness >= os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE or niceness == 19
    finally:
        processor.close()


def test_pool_processes_leave_ctrl_c_to_the_api(in_dir: StoreFactory) -> None:
    """A terminal's Ctrl-C signals the whole process group; a pool process ignores it
    (no traceback on stop): the API shuts its pool down."""
    processor = MediaProcessor(1, in_dir)
    try:
        handler = processor.pool().submit(signal.getsignal, signal.SIGINT).result(timeout=60)
        assert handler == signal.SIG_IGN
    finally:
        processor.close()


async def test_a_job_not_done_within_max_wait_is_overloaded_and_frees_its_slot(
        in_dir: StoreFactory) -> None:
    """A SCHED_IDLE pool on busy cores may get no CPU: the upload answers 503 with a
    Retry-After after ``max_wait_s`` instead of hanging, and its slot comes back."""
    processor = MediaProcessor(1, in_dir, max_wait_s=0.001)  # the pool is still starting
    try:
        with pytest.raises(Overloaded) as late:
            await processor.process(photo(640, 480))
        assert late.value.retry_after_s >= 1 and "did not finish" in str(late.value)
        deadline = time.monotonic() + 60
        while processor.pending:
            assert time.monotonic() < deadline, "the slot never came back"
            await asyncio.sleep(0.05)
        processor.max_wait_s = 60
        assert (await processor.process(photo(64, 48))).original["width"] == 48  # upright
    finally:
        processor.close()


def test_the_pool_builds_the_store_the_settings_name(tmp_path: Path) -> None:
    """The composition root's factory crosses to a spawned process (pickled) and builds
    there the store the settings name: the directory, or the S3 bucket when one is set."""
    from infra.bootstrap import media_store_factory
    from infra.media_store import S3MediaStore
    from infra.settings import Settings

    on_disk = pickle.loads(pickle.dumps(media_store_factory(Settings(
        media_dir=str(tmp_path)))))()
    assert isinstance(on_disk, FilesystemMediaStore) and on_disk.root == tmp_path
    in_s3 = pickle.loads(pickle.dumps(media_store_factory(Settings(
        media_s3_bucket="roost-media", media_s3_prefix="m/",
        media_s3_endpoint_url="http://127.0.0.1:9", media_s3_region="us-east-1"))))()
    assert isinstance(in_s3, S3MediaStore)
    assert (in_s3.bucket, in_s3.prefix) == ("roost-media", "m/")
