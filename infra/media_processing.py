"""Image validation and processing (Pillow): what ``POST /api/media`` does to a file.

``process_image`` is a pure function of the bytes, run in a process pool
(``MediaProcessor``) so that decoding and re-encoding never hold the event loop
or the GIL of the API process. It

1. refuses by content, never by name or declared type: more than ``max_bytes``
   is ``413``; a file that is none of JPEG, PNG, WebP, GIF by its signature is
   ``415``; one that is but does not decode is ``422``;
2. reads the pixel size from the header and refuses more than ``max_pixels``
   (``413``) *before* any pixel is decoded (a decompression bomb costs a header
   read); Pillow's own bomb guard is set to the same limit as a second line;
3. decodes the first frame only (a GIF's first frame), applies the EXIF
   orientation (``ImageOps.exif_transpose``), scales 16-bit grey to 8 bits,
   converts to sRGB through the embedded ICC profile when there is one (then
   drops the profile: every browser shows untagged images as sRGB; a profile
   that cannot be used is ignored, the pixels taken as sRGB, and named in
   ``ProcessedImage.icc_error`` for the caller to log), and
4. re-encodes two variants with *no* metadata at all (no EXIF, so no GPS; no
   XMP, IPTC, ICC, comments or PNG text chunks): ``original`` with its longest
   side at most ``ORIGINAL_SIDE`` px and ``small`` at most ``SMALL_SIDE`` px,
   JPEG for JPEG input, PNG for PNG and GIF, WebP for WebP; and a blurhash of
   the small variant.

Output modes: RGB, or RGBA when the source has any transparency (an alpha
channel, a palette or grey transparency entry); 8 bits per channel. JPEG has no
alpha, and a JPEG source never has one (CMYK JPEGs become RGB).

``MediaProcessor`` runs the whole job of an upload in a pool process: ``process_image``,
then both variants written to the media store (``ports.media_store.MediaStore``, built
in each pool process by the factory the composition root passes, ``infra.bootstrap``)
and durable there, so that only their keys, sizes and the blurhash come back
(``StoredUpload``): the API process never holds or copies the processed images
(docs/performance.md, "Uploads at fixed rates"). A refused file stores nothing: the
refusals all come before the first write. The objects are written before the caller
appends ``MediaUploaded`` (an orphan object at worst, never an event naming nothing).

It bounds the jobs of one API process (``max_pending``: being processed or queued);
past it an upload is refused at once (``Overloaded``, 503 with ``Retry-After``)
instead of waiting in an unbounded queue.
"""

from __future__ import annotations

import asyncio
import io
import math
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from struct import error as struct_error
from typing import Final, Literal

import blurhash
import structlog
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from ports.errors import DependencyUnavailable, Overloaded
from ports.media_store import MediaStore, media_key
from ports.records import StoredImage

log = structlog.get_logger(__name__)

ORIGINAL_SIDE: Final = 4096
SMALL_SIDE: Final = 640
MAX_BYTES: Final = 16 * 1024 * 1024
MAX_PIXELS: Final = 40_000_000
FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF")
OUTPUT: Final = {"JPEG": ("JPEG", "image/jpeg"), "PNG": ("PNG", "image/png"),
                 "GIF": ("PNG", "image/png"), "WEBP": ("WEBP", "image/webp")}
SIGNATURES: Final = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
JPEG_QUALITY: Final = 85
BLURHASH_SIDE: Final = 32
BLURHASH_COMPONENTS: Final = (4, 3)


class ImageRefused(Exception):
    """A file refused for its content: ``status`` 413, 415 or 422, ``code`` the API
    error code, ``reason`` for ``details.fields.file``."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[type[ImageRefused], tuple[int, str, str]]:
        # Raised in a pool process and pickled back: rebuilt with all three arguments.
        return (ImageRefused, (self.status, self.code, self.reason))


@dataclass(frozen=True, slots=True)
class Variant:
    """One re-encoded image: its bytes, content type, size in pixels, and its media
    store key (``media_key``: hashed here, in the pool, not on the event loop)."""

    data: bytes
    content_type: str
    width: int
    height: int
    key: str


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """What ``process_image`` made of an upload; ``icc_error``: why the embedded ICC
    profile was ignored (the error's repr), when it was."""

    original: Variant
    small: Variant
    blurhash: str
    icc_error: str | None = None


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """An upload processed and stored by a pool process (``MediaProcessor.process``):
    each variant as the media store now holds it (key, content type, pixel size, size
    in bytes; no image bytes), the blurhash, and ``icc_error`` as ``ProcessedImage``'s."""

    original: StoredImage
    small: StoredImage
    blurhash: str
    icc_error: str | None = None


def stored_image(variant: Variant) -> StoredImage:
    """What the media store holds of ``variant`` once written (no bytes)."""
    return {"key": variant.key, "content_type": variant.content_type,
            "width": variant.width, "height": variant.height, "bytes": len(variant.data)}


def _looks_like_ours(data: bytes) -> bool:
    """Whether the bytes start like one of the accepted formats (WebP: RIFF....WEBP)."""
    return data.startswith(SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image, header read and size checked, no pixel decoded yet."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's guard: a warning above, an error at 2x
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageRefused(413, "image_too_large",
                           f"must have at most {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        if _looks_like_ours(data):
            raise ImageRefused(422, "image_undecodable", "does not decode as an image") \
                from error
        raise ImageRefused(415, "unsupported_media_type",
                           "must be a JPEG, PNG, WebP or GIF image") from error
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRefused(413, "image_too_large",
                           f"must have at most {max_pixels} pixels (has {width * height})")
    if width < 1 or height < 1:
        raise ImageRefused(422, "image_undecodable", "has no pixels")
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit integer) grey as 8-bit ``L``, scaled (``convert`` alone would
    clip every value above 255 to white); other modes as they are."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        scaled = image.convert("I").point(lambda v: v * (1 / 257) + 0.5).convert("L")
        scaled.info = dict(image.info)
        return scaled
    return image


def _to_srgb(image: Image.Image) -> tuple[Image.Image, str | None]:
    """The image in RGB or RGBA, converted through its ICC profile when it has a usable
    one; a profile that cannot be used is ignored (the pixels are taken as sRGB) and
    its error returned beside the image."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if has_alpha else "RGB"
    profile = image.info.get("icc_profile")
    problem = None
    if profile and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                ImageCms.createProfile("sRGB"), outputMode=mode if image.mode != "L" else "L")
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            problem = f"{image.mode}: {error!r}"
    return (image if image.mode == mode else image.convert(mode)), problem


def _encode(image: Image.Image, fmt: str, content_type: str) -> Variant:
    image.info = {}  # nothing of the source's metadata may be written back
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=JPEG_QUALITY, method=4)
    else:
        image.save(out, "PNG", optimize=False, compress_level=6)
    data = out.getvalue()
    return Variant(data, content_type, image.width, image.height,
                   media_key(data, content_type))


def _blurhash(small: Image.Image) -> str:
    thumb = small.convert("RGB")
    thumb.thumbnail((BLURHASH_SIDE, BLURHASH_SIDE), Image.Resampling.BILINEAR)
    pixels = list(thumb.get_flattened_data())
    rows = [pixels[y * thumb.width:(y + 1) * thumb.width] for y in range(thumb.height)]
    x, y = BLURHASH_COMPONENTS
    encoded: str = blurhash.encode(rows, components_x=x, components_y=y)
    return encoded


def precheck(data: bytes, max_bytes: int = MAX_BYTES) -> None:
    """The refusals that need no decoding: too many bytes (413), no signature of an
    accepted format (415). Cheap enough for the event loop.

    Raises:
        ImageRefused: as said.
    """
    if len(data) > max_bytes:
        raise ImageRefused(413, "body_too_large", f"must be at most {max_bytes} bytes")
    if not _looks_like_ours(data):
        raise ImageRefused(415, "unsupported_media_type",
                           "must be a JPEG, PNG, WebP or GIF image")


def process_image(data: bytes, max_bytes: int = MAX_BYTES,
                  max_pixels: int = MAX_PIXELS) -> ProcessedImage:
    """Validate ``data`` by decoding it and make its two clean variants (module doc).

    Raises:
        ImageRefused: 413 (more than ``max_bytes`` bytes or ``max_pixels`` pixels),
            415 (not an accepted format), 422 (does not decode).
    """
    precheck(data, max_bytes)
    image = _open(data, max_pixels)
    fmt, content_type = OUTPUT[image.format or "JPEG"]
    try:
        if image.format == "JPEG":  # decode at a reduced scale when that is enough
            image.draft("RGB", (ORIGINAL_SIDE, ORIGINAL_SIDE))
        image.load()  # the first frame only
        upright = _eight_bit(ImageOps.exif_transpose(image))
        pixels, icc_error = _to_srgb(upright)
    except ImageRefused:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError,
            ZeroDivisionError, IndexError, TypeError, struct_error) as error:
        raise ImageRefused(422, "image_undecodable", "does not decode as an image") \
            from error
    pixels.thumbnail((ORIGINAL_SIDE, ORIGINAL_SIDE), Image.Resampling.LANCZOS)
    small = pixels.copy()
    small.thumbnail((SMALL_SIDE, SMALL_SIDE), Image.Resampling.LANCZOS)
    return ProcessedImage(_encode(pixels, fmt, content_type),
                          _encode(small, fmt, content_type), _blurhash(small), icc_error)


def _ready() -> bool:
    return True


StoreFactory = Callable[[], MediaStore]
"""Builds the media store in a pool process: a picklable callable (a module-level
function, or a ``functools.partial`` of one with picklable arguments), since the
pool's processes are spawned (``infra.bootstrap.media_store_factory``)."""


class _PoolProcess:
    """What a pool process keeps between jobs (set by ``_init_worker``): its media
    store and the event loop the store's coroutines run on."""

    store: MediaStore | None = None
    loop: asyncio.AbstractEventLoop | None = None


def _store_variants(processed: ProcessedImage) -> None:
    """Write both variants to this pool process's media store, durably (the port's
    ``put``: fsync'd files, or S3 answered), the two at once.

    Raises:
        DependencyUnavailable: the store failed (an object may have been written: an
            orphan for the sweeper).
    """
    store, loop = _PoolProcess.store, _PoolProcess.loop
    if store is None or loop is None:
        raise DependencyUnavailable("image processing: the pool process has no media store")

    async def put_both() -> None:
        await asyncio.gather(store.put(processed.original.key, processed.original.data),
                             store.put(processed.small.key, processed.small.data))

    loop.run_until_complete(put_both())


def _process_and_store(data: bytes, max_bytes: int, max_pixels: int
                       ) -> tuple[StoredUpload, float]:
    """The job of one upload in a pool process: ``process_image``, both variants
    written to the store; what was stored, and the job's wall time there (seconds).

    Raises:
        ImageRefused: as ``process_image`` (nothing written).
        DependencyUnavailable: the store failed.
    """
    started = time.perf_counter()
    processed = process_image(data, max_bytes, max_pixels)
    _store_variants(processed)
    stored = StoredUpload(stored_image(processed.original), stored_image(processed.small),
                          processed.blurhash, processed.icc_error)
    return stored, time.perf_counter() - started


PARENT_CHECK_S: Final = 1.0
WORKER_NICE: Final = 10
"""How much lower than the API's the pool processes' CPU priority is (``nice``): when
the machine's cores are busy, the API's requests get the CPU before image
processing does (docs/performance.md, "Uploads beside reads")."""
WorkerPriority = Literal["idle", "nice"]
"""The pool processes' CPU scheduling: ``idle`` -- Linux's ``SCHED_IDLE`` class, which
runs only on a core nothing else wants (sched(7)), so requests never wait behind image
processing and uploads take what is left; ``nice`` -- the normal class at
``WORKER_NICE``, which still takes a share of a busy core."""


def _exit_with_parent(parent: int) -> None:
    """Exit this pool process once the API process that started it is gone. A pool
    process waits on a queue whose other end it holds itself, so a parent killed
    outright (SIGKILL, out of memory, a supervisor's timeout) would leave it waiting
    forever, with its memory."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def lower_priority(priority: WorkerPriority) -> None:
    """Put the calling process (its threads from now on) at ``priority``; ``idle``
    falls back to ``nice`` where ``SCHED_IDLE`` does not exist (not Linux)."""
    os.nice(WORKER_NICE)
    if priority == "idle" and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _init_worker(max_pixels: int, parent: int, priority: WorkerPriority,
                 store_factory: StoreFactory) -> None:
    """Set up a pool process: limits, a lower CPU priority (``lower_priority``), an exit
    when ``parent`` is gone (the API process's pid, passed in: a process still starting
    when its parent was killed would see its new parent already), and its media store
    (``store_factory()``) with an event loop to run it on."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is refused, never padded
    # Ctrl-C reaches the terminal's whole process group: the API stops its pool itself
    # (and a pool process exits with its parent), so a pool process ignores SIGINT
    # instead of dying mid-wait with a traceback that is no JSON log line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lower_priority(priority)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="exit-with-parent").start()
    _PoolProcess.store = store_factory()
    _PoolProcess.loop = asyncio.new_event_loop()


class MediaProcessor:
    """Runs each upload's job -- ``process_image``, then both variants written to the
    media store -- in a pool of ``workers`` processes (``ROOST_MEDIA_WORKERS``), started
    on first use ("spawn": no copy of the API's threads and sockets); each process builds
    its own store with ``store_factory`` (``StoreFactory``).

    At most ``max_pending`` jobs (``ROOST_MEDIA_MAX_PENDING``) are in this processor at
    once, being processed or queued for a process; a job counts until its process is
    done with it, even when the request that sent it has gone. Each pending job holds
    its upload's bytes (at most ``max_bytes``) in this process, and nothing else: the
    processed images stay in the pool process."""

    def __init__(self, workers: int, store_factory: StoreFactory, max_bytes: int = MAX_BYTES,
                 max_pixels: int = MAX_PIXELS, max_pending: int = 8,
                 priority: WorkerPriority = "idle", max_wait_s: float = 30.0) -> None:
        self.workers = workers
        self.store_factory = store_factory
        self.priority = priority
        self.max_wait_s = max_wait_s
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.max_pending = max_pending
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # done callbacks run in the pool's own thread
        self._pending = 0
        self._job_s = 1.0  # moving average of a job's time in its process, for Retry-After

    @property
    def pending(self) -> int:
        """Jobs being processed or queued now."""
        return self._pending

    def pool(self) -> ProcessPoolExecutor:
        """The process pool, started when first needed."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.max_pixels, os.getpid(), self.priority, self.store_factory))
        return self._pool

    def warm_up(self) -> None:
        """Start the pool's processes now, in the background (a spawned process imports
        the API's modules: seconds on a busy machine), so the first upload does not
        wait for them. Returns at once."""
        pool = self.pool()
        for _ in range(self.workers):
            pool.submit(_ready)

    def _retry_after_s(self) -> int:
        """When a slot is likely free again: within about one job's processing time
        (the oldest job in a process ends by then), at least 1 s, at most 60."""
        return min(60, max(1, math.ceil(self._job_s)))

    def _submit(self, pool: ProcessPoolExecutor, data: bytes
                ) -> Future[tuple[StoredUpload, float]]:
        """Take a slot and hand the job to the pool; the slot frees when the job is done
        (or cancelled before it started).

        Raises:
            Overloaded: ``max_pending`` jobs are in already.
        """
        with self._lock:
            if self._pending >= self.max_pending:
                raise Overloaded(
                    f"image processing is busy: {self._pending} uploads are being processed "
                    "or wait; retry shortly", self._retry_after_s())
            self._pending += 1

        def done(future: Future[tuple[StoredUpload, float]]) -> None:
            with self._lock:
                self._pending -= 1
                if not future.cancelled() and future.exception() is None:
                    self._job_s = 0.8 * self._job_s + 0.2 * future.result()[1]

        try:
            future = pool.submit(_process_and_store, data, self.max_bytes, self.max_pixels)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        future.add_done_callback(done)
        return future

    async def process(self, data: bytes) -> StoredUpload:
        """``process_image(data)`` in the pool and both variants written to the media
        store there, durably, before this returns (so the caller may append the event
        that names them); an ICC profile it had to ignore is logged
        (``media.icc_profile_ignored``, a warning).

        Raises:
            ImageRefused: as ``process_image``; nothing was written.
            Overloaded: ``max_pending`` jobs are in already (nothing was done), or the
                job did not finish within ``max_wait_s`` seconds (a job that had not
                started is dropped; one that had may still write its objects: orphans
                for the sweeper, no medium).
            DependencyUnavailable: the media store failed, or the pool broke (a worker
                died; the next call starts a new pool). Objects may have been written
                (orphans).
        """
        precheck(data, self.max_bytes)  # no process needed to refuse these
        pool = self.pool()
        job = self._submit(pool, data)
        try:
            stored, _ = await asyncio.wait_for(asyncio.wrap_future(job), self.max_wait_s)
        except TimeoutError:
            # the pool had no CPU for it (SCHED_IDLE on busy cores) or is stuck: no medium;
            # a job not started yet is dropped, a started one ends unseen (its objects, if
            # it writes them, are orphans)
            job.cancel()
            raise Overloaded(f"image processing did not finish within {self.max_wait_s:g} s; "
                             "retry shortly", self._retry_after_s()) from None
        except BrokenProcessPool as error:  # a worker died (killed, out of memory)
            if self._pool is pool:
                self._pool = None  # the next upload starts a new pool
                pool.shutdown(wait=False, cancel_futures=True)
            raise DependencyUnavailable("image processing: a worker process died") from error
        if stored.icc_error is not None:
            log.warning("media.icc_profile_ignored", error=stored.icc_error,
                        bytes=len(data), detail="its pixels were taken as sRGB")
        return stored

    def close(self) -> None:
        """Stop the pool: queued work is cancelled, a job being processed is finished
        (bounded by the pixel limit: seconds at most), and this returns once every pool
        process has exited (the API has drained its requests by then).

        Waiting matters: a process that exits while its pool still runs leaves the
        pool's queue semaphores to ``multiprocessing``'s resource tracker, which warns
        of "leaked semaphore objects" on stderr, outside the JSON logs."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
