"""Rate sweeps: run a workload at rising arrival rates until it saturates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.cpu import CpuMeter, cpu_ms_per_request
from bench.loadgen import Fleet, StepResult, Workload
from bench.stats import quantile_curve, summarize

SATURATED_P99_MS = 1_000.0


def step_summary(step: StepResult, kind: str) -> dict[str, Any]:
    """One step's figures for one kind of request."""
    result = step.kinds.get(kind)
    latencies = result.latencies_ms if result else []
    attempts = (sum(result.statuses.values()) + result.errors) if result else 0
    failed = (result.errors + sum(c for s, c in result.statuses.items() if s >= 300)
              if result else 0)
    completed = max(1, step.completed)
    return {
        "offered_per_s": step.rate,
        "achieved_per_s": round(len(latencies) / step.duration_s, 1),
        **summarize(latencies),
        "failed": failed,
        "attempts": attempts,
        "statuses": {str(s): c for s, c in sorted(result.statuses.items())} if result else {},
        "dropped_by_generator": step.dropped,
        "arrivals": step.arrivals,
        "empty_pages": result.empty if result else 0,
        "generator_cores": round(step.generator_cpu_s / step.wall_s, 3),
        "generator_cpu_us_per_request": round(step.generator_cpu_s / completed * 1e6, 1),
        "generator_max_lateness_ms": round(step.max_lateness_ms, 2),
        "curve": quantile_curve(latencies),
    }


def saturated(summary: dict[str, Any]) -> bool:
    """More than 1% of the requests that arrived failed or were never answered, or
    the p99 is over a second: the server no longer keeps up with the offered rate."""
    arrivals = max(1, summary["arrivals"])
    answered_ok = summary["count"]
    return answered_ok < 0.99 * arrivals or not summary["p99"] < SATURATED_P99_MS


Around = Callable[[int], Callable[[], dict[str, Any]]]


def run_sweep(fleet: Fleet, workload: Callable[[int], Workload], rates: tuple[int, ...],
              kind: str, on_step: Callable[[str], None] = lambda _: None,
              meter_pids: dict[str, list[int]] | None = None,
              around: Around | None = None) -> dict[str, Any]:
    """Each rate in turn, stopping after the first saturated step.

    ``around(rate)`` is called before a step and returns what to call after
    it (a profiler, say); what that returns is kept in the step's figures.
    """
    steps: list[dict[str, Any]] = []
    for rate in rates:
        on_step(f"{kind} @ {rate}/s")
        meter = CpuMeter(meter_pids or {})
        after = around(rate) if around else None
        meter.start()
        step = fleet.run(workload(rate))
        summary = step_summary(step, kind)
        summary["server_cores"] = meter.stop()
        # In-process CPU per answered request (every API process's, every answer).
        summary["api_cpu_ms_per_request"] = cpu_ms_per_request(meter, "api", step.completed)
        if after is not None:
            extra = after()
            if extra:
                summary["profiles"] = extra
        summary["saturated"] = saturated(summary)
        steps.append(summary)
        if summary["saturated"]:
            break
    best = max(steps, key=lambda s: s["achieved_per_s"]) if steps else {}
    sustained = [s for s in steps if not s["saturated"]]
    return {
        "steps": steps,
        "max_achieved_per_s": best.get("achieved_per_s", 0),
        "max_sustained_rate": max((s["offered_per_s"] for s in sustained), default=0),
        "saturated_at": next((s["offered_per_s"] for s in steps if s["saturated"]), None),
    }


def at_rate(sweep: dict[str, Any], rate: float) -> dict[str, Any] | None:
    """The step run at ``rate`` (or the highest one below it)."""
    below = [s for s in sweep.get("steps", []) if s["offered_per_s"] <= rate]
    return max(below, key=lambda s: s["offered_per_s"]) if below else None
