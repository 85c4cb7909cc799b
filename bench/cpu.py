"""CPU used by each process of the stack during a phase, from /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.stack import cpu_seconds


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on the machine (shared with other users)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Cores used by named processes between ``start()`` and ``stop()``; after
    ``stop()``, ``cpu_s`` holds the CPU seconds behind each figure (a group's
    processes summed: all the API's processes when it runs several)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self._start: dict[str, dict[int, float]] = {}
        self._t0 = 0.0
        self._busy = 0.0
        self.cpu_s: dict[str, float] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {p: cpu_seconds(p) for p in group} for name, group in self.pids.items()}

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._start = self._sample()
        self._busy = machine_busy_seconds()

    def stop(self) -> dict[str, float]:
        elapsed = max(1e-6, time.perf_counter() - self._t0)
        end = self._sample()
        cores = {}
        for name, now in end.items():
            before = self._start.get(name, {})
            # Only processes alive at both ends (PostgreSQL backends come and go).
            used = sum(now[p] - before[p] for p in now if p in before and now[p] >= before[p])
            self.cpu_s[name] = used
            cores[name] = round(used / elapsed, 3)
        attributed = sum(cores.values())
        busy = (machine_busy_seconds() - self._busy) / elapsed
        cores["machine_busy"] = round(busy, 3)
        cores["unattributed"] = round(busy - attributed, 3)  # other users of the machine
        cores["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return cores


def cpu_ms_per_request(meter: CpuMeter, name: str, requests: int) -> float | None:
    """CPU milliseconds that the processes of ``name`` spent per request answered
    during the meter's span (``requests``: every answer the load generator got, so
    over all the API's processes when it runs several); None without a figure."""
    used = meter.cpu_s.get(name)
    if used is None or requests <= 0:
        return None
    return round(used / requests * 1000, 3)
