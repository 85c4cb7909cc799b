"""The projector names are written once, in ``ports.projectors``.

Code names a projector through ``READ_MODELS`` / ``TIMELINES`` / ``NOTIFICATIONS`` /
``SEARCH`` / ``TRENDS`` / ``PROJECTORS``; a string literal equal to a projector name
anywhere else in the application packages fails this test. (Tests may spell the names
out: they state the
public contract, e.g. the keys of ``/health``.)
"""

from __future__ import annotations

import ast
from pathlib import Path

from ports import projectors as names
from projections.notifications import NotificationProjector
from projections.read_models import ReadModelProjector
from projections.search import SearchProjector
from projections.timelines import TimelineProjector
from projections.trends import TrendsProjector

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("commands", "domain", "infra", "ports", "projections", "queries", "streams")
# Keyword arguments whose strings name a resource, not a projector (FastAPI tags).
NOT_PROJECTOR_NAMES = {"tags"}


def literal_names(source: str) -> list[int]:
    """Lines of string constants equal to a projector name, outside ``tags=``."""
    tree = ast.parse(source)
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in NOT_PROJECTOR_NAMES:
            skipped.update(id(inner) for inner in ast.walk(node.value))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in names.PROJECTORS
            and id(node) not in skipped]


def test_projectors_carry_the_names() -> None:
    assert ReadModelProjector.name == names.READ_MODELS == "read_models"
    assert TimelineProjector.name == names.TIMELINES == "timelines"
    assert NotificationProjector.name == names.NOTIFICATIONS == "notification_groups"
    assert SearchProjector.name == names.SEARCH == "search_index"
    assert TrendsProjector.name == names.TRENDS == "trends"
    assert names.PROJECTORS == (names.READ_MODELS, names.TIMELINES, names.NOTIFICATIONS,
                                names.SEARCH, names.TRENDS)


def test_the_scan_sees_a_literal() -> None:
    assert literal_names('wait(x, "read_models")\nrouter(tags=["timelines"])\n') == [1]


def test_no_projector_name_is_spelled_out_in_code() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}"
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             if path != ROOT / "ports" / "projectors.py"
             for line in literal_names(path.read_text())]
    assert not found, f"use ports.projectors instead of the literal at {found}"
