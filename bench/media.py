"""``python -m bench.media``: the cost of image uploads, and whether they disturb reads.

1. **Processing** (no server): CPU milliseconds per megapixel to validate and
   process a 12-megapixel JPEG as ``POST /api/media`` does (decode, orientation,
   sRGB, original <= 4,096 px + small 640 px, no metadata, blurhash), with Pillow
   (``infra.media_processing.process_image``, what Roost runs) and with pyvips
   (the same steps, if pyvips and libvips are installed), each beside its raw
   limit: a bare decode + re-encode of the same file by the same library.
2. **Uploads beside reads**: a stack of its own (``bench.stack.BenchStack``: own
   database, Redis prefix, ports, noida-db, media directory; API + relay + worker),
   or ``--api-url`` for one already running (``make up`` with a high
   ``ROOST_RATE_LIMIT_MULTIPLIER``). One reader whose home timeline holds 20 posts
   reads it at a fixed rate (``--read-rate``, open loop: a read's latency counts
   from when it was due, so a stall is not hidden by the reader waiting for it),
   in phases of ``--seconds``, interleaved: reads alone, reads + ``--upload-loops``
   back-to-back uploads of a 3-megapixel JPEG, reads alone, reads + bare
   processing, reads alone, ... (``--rounds`` rounds), so the machine's own drift
   shows as the spread of the reads-alone phases. The uploads run in a process of
   their own, so their client work does not slow the reader's. Raw limits printed
   beside the figures: for the reads, the reads-alone phases; for the reads beside
   uploads, the reads beside *bare processing* (``process_image`` of the same JPEG
   back to back in one process at the pool's priority (``lower_priority``,
   ``ROOST_MEDIA_WORKER_PRIORITY``): the CPU work of the uploads with
   nothing of Roost's around it); for the uploads, the processing of the JPEG by
   ``process_image`` alone (CPU ms), so at most ``ROOST_MEDIA_WORKERS`` / that many
   uploads per second. With
   ``--nice-ab`` the upload phases alternate the processing pool at its own CPU
   priority (``WORKER_NICE``) and at the API's (nice 0), in the same run; with
   ``--priority-ab`` between SCHED_IDLE and nice ``WORKER_NICE``. With
   ``--upload-rates 1,2,4`` the uploads are sent open loop at each of those fixed
   rates (uploads per second, each latency from when it was due) instead of
   back to back, one phase per rate and round: the reads' p99 beside a given upload
   rate, against the spread of the reads-alone phases (the noise), and the rate
   from which the uploads' CPU takes the reads' core (``--keys-ab``: each rate
   without and with an ``Idempotency-Key`` per upload, whose body the middleware
   then fingerprints).

Small run: ``python -m bench.media --no-processing --seconds 15 --rounds 2``.
Prints figures and writes ``bench/results/media-<time>.json``; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

from bench.stack import BenchStack, cpu_seconds, descendants
from bench.stats import nan_to_none, summarize
from bench.workloads import HOME
from infra import devstack
from infra.media_processing import (
    ORIGINAL_SIDE,
    SMALL_SIDE,
    WORKER_NICE,
    WorkerPriority,
    lower_priority,
    process_image,
)
from infra.settings import Settings

RESULTS = Path(__file__).parent / "results"

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


def _phase_reads(latencies: list[float], failures: int, seconds: float) -> dict[str, Any]:
    return {"reads_ms": summarize(latencies), "read_failures": failures,
            "reads_per_s": round(len(latencies) / seconds, 1)}


async def _reads(http: Any, token: str, seconds: float, rate: float
                 ) -> tuple[list[float], int]:
    """Home reads due every ``1/rate`` s for ``seconds``; each latency from when it was
    due (ms), and how many failed."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures = 0
    headers = {"Authorization": f"Bearer {token}"}

    async def read(due: float) -> None:
        nonlocal failures
        answer = await http.get(HOME, headers=headers)
        if answer.status_code == 200:
            latencies.append((loop.time() - due) * 1000)
        else:
            failures += 1

    started, n, tasks = loop.time(), 0, []
    while (due := started + n / rate) < started + seconds:
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(read(due)))
        n += 1
    await asyncio.gather(*tasks)
    return latencies, failures


class _Uploads:
    """What upload threads record: each answer's status, and the latency of each stored
    upload (ms, from ``since``); thread-safe."""

    def __init__(self, photo: bytes, keyed: bool) -> None:
        self.photo, self.keyed = photo, keyed
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()

    def send(self, http: Any, since: float) -> None:
        """One upload on ``http`` (an ``httpx.Client``), with a new ``Idempotency-Key``
        when ``keyed`` (as a client that retries does)."""
        headers = {"Idempotency-Key": uuid.uuid4().hex} if self.keyed else {}
        answer = http.post("/api/media", headers=headers,
                           files={"file": ("p.jpg", self.photo, "image/jpeg")})
        took = (time.perf_counter() - since) * 1000
        with self.lock:
            self.statuses[answer.status_code] += 1
            if answer.status_code == 201:
                self.latencies.append(took)

    def result(self, began: float) -> dict[str, Any]:
        return {"latencies": self.latencies,
                "statuses": {str(k): n for k, n in self.statuses.items()},
                "elapsed_s": time.perf_counter() - began}


def _client(base_url: str, token: str) -> Any:
    import httpx

    return httpx.Client(base_url=base_url, timeout=120,
                        headers={"Authorization": f"Bearer {token}"})


def _upload_loops(base_url: str, token: str, photo: bytes, seconds: float, loops: int,
                  keyed: bool = False) -> dict[str, Any]:
    """``loops`` threads uploading ``photo`` back to back for ``seconds`` (run in a
    process of its own), each with a new ``Idempotency-Key`` when ``keyed`` (as a
    client that retries does): latencies of the stored ones (ms), statuses, elapsed s."""
    uploads = _Uploads(photo, keyed)
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        with _client(base_url, token) as http:
            while time.perf_counter() < deadline:
                uploads.send(http, time.perf_counter())

    began = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(loops)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return uploads.result(began)


def _uploads_at_rate(base_url: str, token: str, photo: bytes, seconds: float, rate: float,
                     keyed: bool = False) -> dict[str, Any]:
    """Uploads of ``photo`` due every ``1/rate`` s for ``seconds``, open loop (run in a
    process of its own; up to ``OPEN_LOOP_THREADS`` in flight, one HTTP connection
    each): latencies of the stored ones from when each was due (ms), statuses,
    elapsed s. A due upload that finds every thread busy waits, and its wait counts."""
    from concurrent.futures import ThreadPoolExecutor

    uploads = _Uploads(photo, keyed)
    local = threading.local()
    clients: list[Any] = []

    def upload(due: float) -> None:
        if not hasattr(local, "http"):
            local.http = _client(base_url, token)
            with uploads.lock:
                clients.append(local.http)
        uploads.send(local.http, due)

    began = time.perf_counter()
    with ThreadPoolExecutor(OPEN_LOOP_THREADS) as pool:
        n = 0
        while (due := began + n / rate) < began + seconds:
            time.sleep(max(0.0, due - time.perf_counter()))
            pool.submit(upload, due)
            n += 1
    for http in clients:
        http.close()
    return uploads.result(began)


OPEN_LOOP_THREADS = 8
"""Uploads in flight at most with ``--upload-rates`` (the API refuses a ninth with 503
``overloaded`` anyway: ``ROOST_MEDIA_MAX_PENDING``)."""


def _prepare(base_url: str, settings: Settings | None, authors: int = 20
             ) -> tuple[str, str, int]:
    """A reader following ``authors`` accounts that posted 3 times each, and an uploader;
    their tokens (minted with ``settings`` when the stack is ours, else from logins), and
    the position of the last post."""
    import httpx

    from bench.workloads import mint

    run = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=base_url, timeout=60) as http:
        def account(name: str) -> str:
            made = http.post("/api/accounts", json={
                "username": name, "email": f"{name}@bench.example.com",
                "password": "correct horse battery"})
            made.raise_for_status()
            if settings is not None:
                return mint(settings, int(made.json()["id"]), name)
            login = http.post("/api/sessions", json={"login": name,
                                                     "password": "correct horse battery"})
            login.raise_for_status()
            return str(login.json()["access_token"])

        reader, uploader = account(f"mr_{run}"), account(f"mu_{run}")
        position = 0
        for n in range(authors):
            name = f"ma_{run}_{n}"
            token = account(name)
            http.post(f"/api/accounts/{name}/follow",
                      headers={"Authorization": f"Bearer {reader}"}).raise_for_status()
            for k in range(3):
                made = http.post("/api/posts", json={"text": f"post {k} of {name} #bench"},
                                 headers={"Authorization": f"Bearer {token}"})
                made.raise_for_status()
                position = max(position, int(made.headers["Roost-Position"]))
    return reader, uploader, position


async def _wait_home(base_url: str, token: str, position: int, timeout: float = 60.0
                     ) -> int:
    """Wait until the reader's home page is full (20 items); how many it has."""
    import httpx

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while True:
            answer = await http.get(HOME, headers={"Authorization": f"Bearer {token}",
                                                   "Roost-Min-Position": str(position)})
            items = len(answer.json()["items"]) if answer.status_code == 200 else 0
            if items >= 20 or loop.time() >= deadline:
                return items
            await asyncio.sleep(0.2)


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}


def _pids(stack: BenchStack | None) -> dict[str, list[int]]:
    """The API process and its image-processing pool (its children), when the stack is
    ours."""
    if stack is None or "api" not in stack.processes:
        return {}
    api = stack.processes["api"].pid
    return {"api": [api], "pool": descendants(api)}


def _renice(pids: list[int], nice: int) -> None:
    """Set every thread of ``pids`` to ``nice`` (lowering it back needs root)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


BARE = "bare processing"
"""The raw limit of reads beside uploads: the same images processed back to back by
``process_image`` in a process of the bench's own at ``WORKER_NICE``, no HTTP, no
store, no event: what the CPU work alone does to the reads on this machine."""


def _bare_processing(photo: bytes, seconds: float) -> dict[str, Any]:
    """``process_image(photo)`` back to back for ``seconds`` (in a process at
    ``WORKER_NICE``); how many, and the elapsed seconds."""
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        process_image(photo)
        done += 1
    return {"processed": done, "elapsed_s": time.perf_counter() - began}


def _set_class(pids: list[int], idle: bool) -> None:
    """Every thread of ``pids`` into ``SCHED_IDLE`` (``idle``) or back into the normal
    class at ``WORKER_NICE`` (leaving SCHED_IDLE needs root or RLIMIT_NICE)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
            os.sched_setscheduler(int(task.name), policy, os.sched_param(0))
    if not idle:
        _renice(pids, WORKER_NICE)


def _kinds(rounds: int, nice_ab: bool, priority_ab: bool = False,
           upload_rates: tuple[float, ...] = (), keys_ab: bool = False) -> list[str]:
    """The phases: reads alone first and between the others; each round has uploads
    and bare processing (with ``nice_ab``: uploads with the pool at its own
    ``WORKER_NICE`` and at nice 0; with ``priority_ab``: uploads with the pool in
    SCHED_IDLE and at nice 10, and bare processing; with ``upload_rates``: uploads at
    each of those rates, open loop; with ``keys_ab`` as well, each rate once without
    and once with an ``Idempotency-Key`` per upload)."""
    if upload_rates:
        keyings = (False, True) if keys_ab else (False,)
        return ["reads alone"] + [
            kind for rate in upload_rates for keyed in keyings
            for kind in (_rate_kind(rate, keyed), "reads alone")
        ] * rounds
    if priority_ab:
        return ["reads alone"] + ["uploads idle", "reads alone", f"uploads nice {WORKER_NICE}",
                                  "reads alone", BARE, "reads alone"] * rounds
    if nice_ab:
        return ["reads alone"] + [f"uploads nice {WORKER_NICE}", "reads alone",
                                  "uploads nice 0", "reads alone"] * rounds
    return ["reads alone"] + ["reads + uploads", "reads alone", BARE, "reads alone"] * rounds


KEYED = " keyed"


def _rate_kind(rate: float, keyed: bool = False) -> str:
    return f"uploads {rate:g}/s" + (KEYED if keyed else "")


def _kind_rate(kind: str) -> tuple[float, bool] | None:
    """The open-loop rate of a phase named by ``_rate_kind`` and whether its uploads
    carry keys, else None."""
    keyed = kind.endswith(KEYED)
    kind = kind.removesuffix(KEYED)
    if kind.startswith("uploads ") and kind.endswith("/s"):
        return float(kind[len("uploads "):-2]), keyed
    return None


async def _phases(base_url: str, reader: str, uploader: str, photo: bytes, *,
                  seconds: float, rounds: int, rate: float, loops: int,
                  stack: BenchStack | None, nice_ab: bool = False,
                  priority_ab: bool = False, priority: WorkerPriority = "idle",
                  keyed: bool = False, upload_rates: tuple[float, ...] = (),
                  keys_ab: bool = False, client_nice: int = 0) -> list[dict[str, Any]]:
    import httpx

    results = []
    loop = asyncio.get_running_loop()
    kinds = _kinds(rounds, nice_ab, priority_ab, upload_rates, keys_ab)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=os.nice,
                             initargs=(client_nice,)) as uploads, \
            ProcessPoolExecutor(1, mp_context=spawn, initializer=lower_priority,
                                initargs=(priority,)) as bare:
        await loop.run_in_executor(uploads, _ready)  # the uploading process is up
        await loop.run_in_executor(bare, _ready)
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
            await _reads(http, reader, 2.0, rate)  # warm-up: connections, caches
            for number, kind in enumerate(kinds, 1):
                pids = _pids(stack)
                if priority_ab and kind.startswith("uploads"):
                    _set_class(pids["pool"], idle=kind == "uploads idle")
                elif kind.startswith("uploads nice"):
                    _renice(pids["pool"], int(kind.rsplit(" ", 1)[1]))
                cpu_before, wall_before = _cpu(pids), time.perf_counter()
                sent = burnt = None
                if kind == BARE:
                    burnt = loop.run_in_executor(bare, _bare_processing, photo, seconds)
                elif (at_rate := _kind_rate(kind)) is not None:
                    sent = loop.run_in_executor(uploads, _uploads_at_rate, base_url, uploader,
                                                photo, seconds, at_rate[0],
                                                keyed or at_rate[1])
                elif kind != "reads alone":
                    sent = loop.run_in_executor(uploads, _upload_loops, base_url, uploader,
                                                photo, seconds, loops, keyed)
                latencies, failures = await _reads(http, reader, seconds, rate)
                row: dict[str, Any] = {"phase": number, "kind": kind,
                                       **_phase_reads(latencies, failures, seconds)}
                if sent is not None:
                    done = await sent
                    stored = done["statuses"].get("201", 0)
                    row["uploads"] = {"stored": stored, "statuses": done["statuses"],
                                      "per_s": round(stored / done["elapsed_s"], 2),
                                      "latency_ms": summarize(done["latencies"])}
                if burnt is not None:
                    processed = await burnt
                    row["bare_per_s"] = round(processed["processed"] / processed["elapsed_s"], 2)
                wall = time.perf_counter() - wall_before
                row["cpu_percent"] = {name: round(100 * (after - cpu_before[name]) / wall, 1)
                                      for name, after in _cpu(pids).items()}
                results.append(row)
                print(_row(row), flush=True)
    return results


def _ready() -> bool:
    return True


def _row(row: dict[str, Any]) -> str:
    reads = row["reads_ms"]
    text = (f"{row['phase']:>2} {row['kind']:16} {reads['count']:6} {reads['p50']:7.1f} "
            f"{reads['p95']:7.1f} {reads['p99']:7.1f} {reads['max']:8.1f}")
    uploads = row.get("uploads")
    if "bare_per_s" in row:
        text += f" | {row['bare_per_s']:5.2f} images/s processed, no HTTP" + " " * 13
    elif uploads:
        other = sum(n for s, n in uploads["statuses"].items() if s != "201")
        text += (f" | {uploads['stored']:4} ({other} not) {uploads['per_s']:5.2f}/s "
                 f"p50 {uploads['latency_ms']['p50']:6.0f} p99 {uploads['latency_ms']['p99']:6.0f}")
    else:
        text += " |" + " " * 44
    cpu = row.get("cpu_percent") or {}
    if cpu:
        text += "  CPU% " + " ".join(f"{k} {v:.0f}" for k, v in cpu.items())
    return text


def uploads_beside_reads(api_url: str | None, *, seconds: float, rounds: int, rate: float,
                         loops: int, keep: bool, nice_ab: bool = False,
                         priority_ab: bool = False, keyed: bool = False,
                         upload_rates: tuple[float, ...] = (),
                         keys_ab: bool = False, client_nice: int = 0) -> dict[str, Any]:
    """Part 2 (module doc); its results."""
    if (nice_ab or priority_ab) and api_url:
        raise SystemExit("--nice-ab / --priority-ab change the pool of a stack of its own: "
                         "no --api-url")
    photo = sample_photo(2000, 1500)
    raw_cpu, raw_wall = cpu_ms(lambda: process_image(photo))
    stack = None
    try:
        if api_url is None:
            stack = BenchStack.create({"media_sweep_interval_s": 0, "media_warm_up": True})
            stack.settings = stack.settings.model_copy(
                update={"media_dir": str(stack.work_dir / "media")})
            stack.start()
            stack.wait_healthy()
            base_url, settings = stack.base_url, stack.settings
        else:
            base_url, settings = api_url, None
        workers = settings.media_workers if settings else 1
        reader, uploader, position = _prepare(base_url, settings)
        items = asyncio.run(_wait_home(base_url, reader, position))
        sending = (f"open loop at {', '.join(f'{r:g}' for r in upload_rates)}/s"
                   if upload_rates else f"on {loops} back-to-back loops")
        print(f"\nhome reads of a 20-item page ({items} items) at {rate:g}/s, "
              f"{seconds:g} s a phase; uploads of a 3-MP JPEG ({len(photo) / 1e6:.1f} MB) "
              f"{sending}; {workers} processing worker(s)")
        print(f"{'':2} {'phase':16} {'reads':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>8} "
              f"| uploads stored, rate, latency ms")
        phases = asyncio.run(_phases(base_url, reader, uploader, photo, seconds=seconds,
                                     rounds=rounds, rate=rate, loops=loops, stack=stack,
                                     nice_ab=nice_ab, priority_ab=priority_ab,
                                     priority=settings.media_worker_priority
                                     if settings else "idle", keyed=keyed,
                                     upload_rates=upload_rates, keys_ab=keys_ab,
                                     client_nice=client_nice))
    finally:
        if stack is not None:
            stack.close(keep=keep)
    results = {"photo_bytes": len(photo), "seconds": seconds, "rate": rate, "loops": loops,
               "upload_rates": list(upload_rates), "keys_ab": keys_ab,
               "client_nice": client_nice,
               "idempotency_keys": keyed, "workers": workers, "phases": phases,
               "raw_process_image": {"cpu_ms": round(raw_cpu, 1), "wall_ms": round(raw_wall, 1)}}
    _summary(results)
    return results


def _spread(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}" if values else "n/a"


def _against_noise(p99s: list[float], noise: list[float]) -> str:
    """Whether every p99 of a kind of phase lies within the reads-alone phases' p99
    spread (the run's noise: the same reads with nothing beside them), or by how many
    ms the highest is above it."""
    if not p99s or not noise:
        return "n/a"
    above = max(p99s) - max(noise)
    return "within" if above <= 0 else f"+{above:.1f} ms above"


def _summary(results: dict[str, Any]) -> None:
    alone = [p for p in results["phases"] if p["kind"] == "reads alone"]
    beside = [p for p in results["phases"] if p["kind"] != "reads alone"]
    bare = [p["bare_per_s"] for p in beside if "bare_per_s" in p]
    print("\nhome reads, ms           p50 (spread)      p99 (spread)   p99 against the noise")
    groups = [("raw limit: reads alone", alone)] + [
        (kind, [p for p in beside if p["kind"] == kind])
        for kind in dict.fromkeys(p["kind"] for p in beside)]
    noise = [p["reads_ms"]["p99"] for p in alone]
    for name, group in groups:
        p99s = [p["reads_ms"]["p99"] for p in group]
        print(f"{name:24} {_spread([p['reads_ms']['p50'] for p in group]):>14}  "
              f"{_spread(p99s):>14}   "
              f"{'' if group is alone else _against_noise(p99s, noise)}")
    raw = results["raw_process_image"]
    stored = [p["uploads"] for p in beside if "uploads" in p]
    rates = [u["per_s"] for u in stored]
    p99s = [u["latency_ms"]["p99"] for u in stored]
    p50s = [u["latency_ms"]["p50"] for u in stored]
    print(f"uploads: {_spread(rates)} /s, p50 {_spread(p50s)} ms, p99 {_spread(p99s)} ms; "
          f"raw limit: process_image of the same JPEG alone {raw['cpu_ms']:.0f} ms CPU "
          f"({raw['wall_ms']:.0f} ms wall), so at most "
          f"{results['workers'] * 1000 / raw['cpu_ms']:.1f} uploads/s with "
          f"{results['workers']} worker(s)"
          + (f"; bare processing beside the reads: {_spread(bare)} images/s" if bare else ""))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", help="part 2 against this running API instead of a "
                                          "stack of its own")
    parser.add_argument("--no-processing", action="store_true", help="skip part 1")
    parser.add_argument("--no-uploads", action="store_true", help="skip part 2")
    parser.add_argument("--seconds", type=float, default=20.0, help="each phase (20)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="(reads + uploads, reads alone) pairs after the first reads alone")
    parser.add_argument("--read-rate", type=float, default=30.0, help="home reads per second")
    parser.add_argument("--upload-loops", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the stack's data and logs")
    parser.add_argument("--nice-ab", action="store_true",
                        help="alternate upload phases with the processing pool at nice 0 "
                             f"and at its own {WORKER_NICE} (needs root; own stack only)")
    parser.add_argument("--priority-ab", action="store_true",
                        help="alternate upload phases with the processing pool in SCHED_IDLE "
                             f"and at nice {WORKER_NICE} (own stack only)")
    parser.add_argument("--upload-rates", type=lambda text: tuple(
                            float(r) for r in text.split(",")), default=(),
                        help="phases of uploads sent open loop at these rates (per second, "
                             "comma-separated, e.g. 1,2,4) instead of back-to-back loops")
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="send each upload with an Idempotency-Key of its own (the "
                             "body is then also fingerprinted by the middleware)")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="run the uploading client's process at this nice value (19: "
                             "it stands in for clients on other machines, and its own CPU "
                             "then does not take the reads' core)")
    parser.add_argument("--keys-ab", action="store_true",
                        help="with --upload-rates: each rate once without and once with "
                             "an Idempotency-Key per upload")
    args = parser.parse_args()
    devstack.interrupt_on_stop_signals()
    if not args.no_processing:
        processing()
    if not args.no_uploads:
        results = uploads_beside_reads(args.api_url, seconds=args.seconds, rounds=args.rounds,
                                       rate=args.read_rate, loops=args.upload_loops,
                                       keep=args.keep, nice_ab=args.nice_ab,
                                       priority_ab=args.priority_ab,
                                       keyed=args.idempotency_keys,
                                       upload_rates=args.upload_rates,
                                       keys_ab=args.keys_ab,
                                       client_nice=args.client_nice)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"media-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_bytes(orjson.dumps(nan_to_none(results), option=orjson.OPT_INDENT_2))
        print(f"results: {path}")


if __name__ == "__main__":
    main()
