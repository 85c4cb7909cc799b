"""A PNG of the latency distributions: one percentile curve per rate, per path."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: dict[str, Any], path: Path) -> Path | None:
    """Write the figure; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [
        ("Home timeline, warm", results.get("reads_warm", {}).get("steps", [])),
        ("Home timeline, cold (rebuilt)", results.get("reads_cold", {}).get("steps", [])),
        ("Post creation", results.get("posts", {}).get("steps", [])),
        ("Trivial FastAPI endpoint (raw)",
         results.get("raw", {}).get("http_trivial", {}).get("steps", [])),
    ]
    figure, axes = plt.subplots(2, 3, figsize=(18, 10))
    flat = list(axes.flat)
    for ax, (title, steps) in zip(flat, panels, strict=False):
        for step in steps:
            curve = step.get("curve") or []
            if not curve:
                continue
            xs = [1 / max(1e-6, 1 - q / 100) for q, _ in curve]
            ys = [max(v, 0.01) for _, v in curve]
            style = "--" if step.get("saturated") else "-"
            ax.plot(xs, ys, style, label=f"{step['offered_per_s']:,.0f}/s")
        _percentile_axis(ax, title)
    _fanout(flat[4], results)
    _mixed(flat[5], results)
    meta = results.get("meta", {})
    figure.suptitle(f"Roost latency distributions - scale {meta.get('scale', {}).get('name')}, "
                    f"{meta.get('cpu')} x{meta.get('cores')}, {meta.get('started')} "
                    "(dashed = saturated)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _percentile_axis(ax: Any, title: str, legend: str = "offered rate") -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["p0", "p50", "p90", "p99", "p99.9", "p99.99"])
    ax.set_ylabel("latency ms (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, title=legend)


def _fanout(ax: Any, results: dict[str, Any]) -> None:
    fan = results.get("fanout", {})
    raw = results.get("raw", {}).get("redis_fanout", {})
    labels, p50, p99, floor = [], [], [], []
    for size, row in fan.items():
        labels.append(f"{int(size):,}")
        p50.append(row["lag"].get("p50") or 0)
        p99.append(row["lag"].get("p99") or 0)
        floor.append(raw.get(size, {}).get("ms") or 0)
    positions = range(len(labels))
    ax.bar([p - 0.25 for p in positions], p50, 0.25, label="lag p50")
    ax.bar(positions, p99, 0.25, label="lag p99")
    ax.bar([p + 0.25 for p in positions], floor, 0.25, label="raw Redis fan-out")
    ax.axhline(1000, color="red", linestyle=":", label="goal 1 s")
    ax.set_xticks(list(positions))
    ax.set_xticklabels(labels)
    ax.set_xlabel("author's followers")
    ax.set_ylabel("ms (log)")
    ax.set_yscale("log")
    ax.set_title("Fan-out lag by follower bucket")
    ax.legend(fontsize=8)


def _mixed(ax: Any, results: dict[str, Any]) -> None:
    kinds = results.get("mixed", {}).get("kinds", {})
    for kind, step in kinds.items():
        curve = step.get("curve") or []
        if curve:
            ax.plot([1 / max(1e-6, 1 - q / 100) for q, _ in curve],
                    [max(v, 0.01) for _, v in curve], label=kind)
    _percentile_axis(ax, f"Mixed 10:1 load at {results.get('mixed', {}).get('rate', '?')}/s",
                     "request")
