"""Processes as Linux's /proc shows them: what a test checks is running or gone."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> set[int]:
    """The processes ``pid`` started that are still there."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``: its children, theirs, and so on."""
    below = children(pid)
    return below.union(*(descendants(child) for child in below))


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
