"""Optional sampling profiles of the stack's processes with py-spy.

``py-spy record --format raw`` writes collapsed stacks (one line per stack
with its sample count); ``top_frames`` turns them into the functions with
the most samples, inclusive and on top of the stack (self).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def start(pid: int, seconds: float, out: Path, rate: int = 200, subprocesses: bool = False
          ) -> subprocess.Popen[bytes] | None:
    """Begin recording ``pid`` (and, with ``subprocesses``, its descendants: the API's
    processes when it runs several) for ``seconds``; None when py-spy is not installed."""
    binary = py_spy()
    if binary is None:
        return None
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
         "--rate", str(rate), "--format", "raw", "--output", str(out), "--nonblocking",
         "--full-filenames", *(["--subprocesses"] if subprocesses else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )


def finish(process: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    if process is None:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(10)


def top_frames(collapsed: Path, limit: int = 25) -> dict[str, Any]:
    """The heaviest functions of a collapsed-stack file, as shares of all samples."""
    if not collapsed.exists():
        return {}
    inclusive: Counter[str] = Counter()
    roost: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        # With --subprocesses each stack starts with a `process <pid>:"<cmdline>"` frame
        # per ancestor (a command line may hold a `;`): leave them out, so that N
        # processes' stacks add up function by function.
        stack = PROCESS_FRAMES.sub("", stack)
        frames = [f.strip() for f in stack.split(";") if f.strip()]
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
        for name in {_short(f) for f in frames if _is_roost(f)}:
            roost[name] += count
        if frames:
            own[_short(frames[-1])] += count
    if not total:
        return {}

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]

    # Entry points (run_api, the event loop...) are in nearly every stack: leave them out.
    informative = Counter({name: n for name, n in inclusive.items() if n < 0.6 * total})
    return {"samples": total, "self_pct": shares(own), "inclusive_pct": shares(informative),
            "roost_inclusive_pct": shares(Counter(
                {name: n for name, n in roost.items() if n < 0.6 * total}))}


ENTRY_POINTS = ("infra/cli.py", "infra/runners.py")
PROCESS_FRAMES = re.compile(r'^(?:process \d+:"[^"]*";?)+')
"""The leading frames py-spy ``--subprocesses`` adds: the process and its ancestors."""


def _is_roost(frame: str) -> bool:
    """A frame in Roost's own code (not a library, not the standard library)."""
    where = frame.partition(" (")[2]
    return bool(where) and "site-packages" not in where and "/lib/python3" not in where \
        and not where.startswith("<") and not any(e in where for e in ENTRY_POINTS)


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({tail})" if where else name
