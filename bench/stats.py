"""Percentiles and summaries of latency samples."""

from __future__ import annotations

import math
from typing import Any

PERCENTILES = (50, 95, 99)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (``q`` in 0..100)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(latencies_ms: list[float]) -> dict[str, Any]:
    """count, p50/p95/p99/p99.9, mean and max, in milliseconds."""
    values = sorted(latencies_ms)
    summary: dict[str, Any] = {"count": len(values)}
    for q in (*PERCENTILES, 99.9):
        summary[f"p{q:g}".replace(".", "_")] = round(percentile(values, q), 3)
    summary["mean"] = round(sum(values) / len(values), 3) if values else math.nan
    summary["max"] = round(values[-1], 3) if values else math.nan
    return summary


def quantile_curve(latencies_ms: list[float], points: int = 60) -> list[tuple[float, float]]:
    """(percentile, latency) pairs spaced evenly on a log(1/(1-q)) axis, for plots."""
    values = sorted(latencies_ms)
    if not values:
        return []
    curve = []
    for i in range(points + 1):
        q = 100 * (1 - 10 ** (-4 * i / points))  # 0 .. 99.99
        curve.append((round(q, 4), round(percentile(values, max(q, 0.0001)), 3)))
    return curve


def nan_to_none(value: Any) -> Any:
    """JSON has no NaN: replace it (recursively) with null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nan_to_none(v) for v in value]
    return value
