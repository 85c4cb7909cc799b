"""``python -m bench.media [--api-url URL] [--seconds S]``: the cost of image uploads.

1. **Processing** (no server): CPU milliseconds per megapixel to validate and
   process a 12-megapixel JPEG as ``POST /api/media`` does (decode, orientation,
   sRGB, original <= 4,096 px + small 640 px, no metadata, blurhash), with Pillow
   (``infra.media_processing.process_image``, what Roost runs) and with pyvips
   (the same steps, if pyvips and libvips are installed), each beside its raw
   limit: a bare decode + re-encode of the same file by the same library.
2. **Uploads beside reads** (``--api-url``, a running stack such as ``make up``):
   home-timeline read latency alone, then while uploads of a 3-megapixel JPEG run
   back to back on two connections; upload throughput and p99. The reads alone are
   the raw limit of the reads beside uploads.

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
import uuid
from collections.abc import Callable

from PIL import Image

from infra.media_processing import ORIGINAL_SIDE, SMALL_SIDE, process_image

RUNS = 5


def sample_photo(width: int, height: int, seed: int = 3) -> bytes:
    """A JPEG with photo-like detail: a smooth colour field under grain."""
    import random

    rng = random.Random(seed)
    base = Image.new("RGB", (16, 12))
    base.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(16 * 12)])
    image = base.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    image = Image.blend(image, grain, 0.25)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def cpu_ms(step: Callable[[], object]) -> tuple[float, float]:
    """Median (CPU ms, wall ms) of ``RUNS`` runs after one warm-up."""
    step()
    cpu, wall = [], []
    for _ in range(RUNS):
        c0, w0 = time.process_time(), time.perf_counter()
        step()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def pillow_raw(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    image.load()
    image.save(io.BytesIO(), "JPEG", quality=85)


def pyvips_steps(data: bytes) -> tuple[Callable[[], object], Callable[[], object]] | None:
    try:
        import pyvips
    except (ImportError, OSError):
        return None
    from infra.media_processing import _blurhash

    def process() -> None:
        original = pyvips.Image.thumbnail_buffer(data, ORIGINAL_SIDE, size="down").copy_memory()
        original = original.icc_transform("srgb") if original.get_typeof("icc-profile-data") \
            else original
        original.jpegsave_buffer(Q=85, strip=True)
        small = original.thumbnail_image(SMALL_SIDE)
        encoded = small.jpegsave_buffer(Q=85, strip=True)
        _blurhash(Image.open(io.BytesIO(encoded)))

    def raw() -> None:
        pyvips.Image.new_from_buffer(data, "").jpegsave_buffer(Q=85)

    return process, raw


def processing() -> None:
    width, height = 4000, 3000
    data = sample_photo(width, height)
    mp = width * height / 1e6
    print(f"processing a {mp:.0f}-megapixel JPEG ({len(data) / 1e6:.1f} MB), median of {RUNS}")
    print(f"{'library':8} {'step':28} {'CPU ms':>8} {'ms/MP':>7} {'wall ms':>8}")
    rows: list[tuple[str, str, Callable[[], object]]] = [
        ("Pillow", "process_image (Roost)", lambda: process_image(data)),
        ("Pillow", "raw: decode + encode", lambda: pillow_raw(data))]
    vips = pyvips_steps(data)
    if vips is None:
        print("pyvips: not installed (pip install pyvips; apt-get install libvips42)")
    else:
        rows += [("pyvips", "same steps", vips[0]), ("pyvips", "raw: decode + encode", vips[1])]
    for library, step, run in rows:
        cpu, wall = cpu_ms(run)
        print(f"{library:8} {step:28} {cpu:8.0f} {cpu / mp:7.1f} {wall:8.0f}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def uploads_beside_reads(api_url: str, seconds: float) -> None:
    import httpx

    name = f"bench{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=api_url, timeout=60) as client:
        client.post("/api/accounts", json={"username": name, "email": f"{name}@example.com",
                                           "password": "correct horse battery"})
        token = client.post("/api/sessions", json={"login": name,
                                                   "password": "correct horse battery"}
                            ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        client.post("/api/posts", json={"text": "bench"}, headers=auth)

        def reads(until: float) -> list[float]:
            took = []
            while time.perf_counter() < until:
                start = time.perf_counter()
                client.get("/api/timelines/home", headers=auth)
                took.append((time.perf_counter() - start) * 1000)
            return took

        alone = reads(time.perf_counter() + seconds)
        photo = sample_photo(2000, 1500)
        stop = threading.Event()
        uploads: list[float] = []
        statuses: list[int] = []

        def upload_loop() -> None:
            with httpx.Client(base_url=api_url, timeout=60) as own:
                while not stop.is_set():
                    start = time.perf_counter()
                    answer = own.post("/api/media", headers=auth,
                                      files={"file": ("p.jpg", photo, "image/jpeg")})
                    uploads.append((time.perf_counter() - start) * 1000)
                    statuses.append(answer.status_code)

        threads = [threading.Thread(target=upload_loop) for _ in range(2)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        beside = reads(time.perf_counter() + seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    print(f"\nhome reads, {seconds:.0f} s each (ms)        {'p50':>7} {'p99':>7} {'n':>6}")
    print(f"raw limit: reads alone              {percentile(alone, .5):7.1f} "
          f"{percentile(alone, .99):7.1f} {len(alone):6}")
    print(f"reads beside 2 upload loops         {percentile(beside, .5):7.1f} "
          f"{percentile(beside, .99):7.1f} {len(beside):6}")
    ok = sum(1 for s in statuses if s == 201)
    print(f"uploads of a 3-MP JPEG: {ok}/{len(statuses)} stored, {ok / elapsed:.1f}/s, "
          f"p50 {percentile(uploads, .5):.0f} ms, p99 {percentile(uploads, .99):.0f} ms "
          "(rate limits: run the stack with ROOST_RATE_LIMIT_MULTIPLIER high)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__)
    parser.add_argument("--api-url", help="a running API (make up) for part 2")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    processing()
    if args.api_url:
        uploads_beside_reads(args.api_url, args.seconds)


if __name__ == "__main__":
    main()
