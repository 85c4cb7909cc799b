"""The results as rich tables, each Roost figure beside its raw limit, and as JSON."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.stats import nan_to_none
from bench.sweeps import at_rate

GOALS = {
    "home_p99_ms_at_500_reads": 50.0,
    "post_p99_ms_at_100_posts": 100.0,
    "fanout_lag_p99_ms_up_to_10000": 1000.0,
}


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def ms(value: Any) -> str:
    v = _num(value)
    if math.isnan(v):
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def per_s(value: Any) -> str:
    v = _num(value)
    return "-" if math.isnan(v) else f"{v:,.0f}"


def share(roost: Any, raw: Any) -> str:
    """A throughput as a percentage of its raw limit."""
    r, w = _num(roost), _num(raw)
    if math.isnan(r) or math.isnan(w) or w <= 0:
        return "-"
    return f"{100 * r / w:.1f}% of {per_s(w)}/s"


def times(roost: Any, raw: Any) -> str:
    """A latency as a multiple of its raw limit."""
    r, w = _num(roost), _num(raw)
    if math.isnan(r) or math.isnan(w) or w <= 0:
        return "-"
    return f"{r / w:,.1f}x of {ms(w)} ms"


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal, what was measured, and by how much it is missed (if it is)."""
    rows: list[dict[str, Any]] = []
    read = at_rate(results.get("reads_warm", {}), 500)
    post = at_rate(results.get("posts", {}), 100)
    lags = [b["lag"]["p99"] for b in results.get("fanout", {}).values()
            if b["followers"] <= 10_000 and b["lag"]["count"]]
    timeouts = sum(b["timeouts"] for b in results.get("fanout", {}).values())
    specs = [
        ("home timeline p99 < 50 ms at 500 reads/s", "home_p99_ms_at_500_reads", read, 500),
        ("post creation p99 < 100 ms at 100 posts/s", "post_p99_ms_at_100_posts", post, 100),
    ]
    for label, key, step, rate in specs:
        target = GOALS[key]
        if step is None:
            rows.append({"goal": label, "measured": None, "verdict": "not measured"})
            continue
        p99 = step["p99"]
        if step["offered_per_s"] < rate and not step["saturated"]:
            rows.append({"goal": label, "measured": p99, "target": target,
                         "verdict": f"not reached: this scale's sweep stops at "
                                    f"{step['offered_per_s']}/s (p99 {ms(p99)} ms there)"})
            continue
        note = "" if step["offered_per_s"] == rate else f" (at {step['offered_per_s']}/s)"
        rows.append(_verdict(label, p99, target, note, step["saturated"]))
    worst = max(lags) if lags else None
    rows.append(_verdict("fan-out lag p99 < 1 s up to 10,000 followers", worst,
                         GOALS["fanout_lag_p99_ms_up_to_10000"],
                         f" ({timeouts} polls timed out)" if timeouts else "", timeouts > 0))
    return rows


def _verdict(label: str, measured: Any, target: float, note: str, saturated: bool
             ) -> dict[str, Any]:
    value = _num(measured)
    if math.isnan(value):
        return {"goal": label, "measured": None, "verdict": "not measured" + note}
    if value < target and not saturated:
        verdict = f"met ({target - value:,.0f} ms to spare)"
    else:
        verdict = f"missed by {value - target:,.0f} ms ({value / target:.1f}x)"
        if saturated:
            verdict += ", saturated"
    return {"goal": label, "measured": value, "target": target, "verdict": verdict + note}


def _sweep_table(title: str, sweep: dict[str, Any], raw_http: dict[str, Any] | None,
                 raw_p50: float, raw_label: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("offered/s", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                   "failed", "non-2xx", "empty", "gen cores", "api cores", "api CPU ms/req",
                   "other cores", f"p50 vs {raw_label}",
                   "p50 vs trivial HTTP"):
        table.add_column(column, justify="right")
    for step in sweep.get("steps", []):
        trivial = at_rate(raw_http, step["offered_per_s"]) if raw_http else None
        if raw_http and trivial is None and raw_http.get("steps"):
            trivial = raw_http["steps"][0]
        cores = step.get("server_cores", {})
        table.add_row(
            per_s(step["offered_per_s"]), per_s(step["achieved_per_s"]), ms(step["p50"]),
            ms(step["p95"]), ms(step["p99"]), ms(step["max"]),
            str(step["failed"] + step["dropped_by_generator"]),
            " ".join(f"{code}x{n}" for code, n in step["statuses"].items()
                     if not code.startswith("2")) or "-",
            str(step["empty_pages"]),
            f"{step['generator_cores']:.2f}", f"{cores.get('api', math.nan):.2f}",
            ms(step.get("api_cpu_ms_per_request")),
            f"{cores.get('unattributed', math.nan):.2f}",
            times(step["p50"], raw_p50), times(step["p50"], trivial["p50"] if trivial else None),
            style="red" if step["saturated"] else None,
        )
    return table


def print_report(results: dict[str, Any], console: Console) -> None:
    meta = results.get("meta", {})
    raw = results.get("raw", {})
    processes = meta.get("api_processes", 1)
    console.rule(f"Roost benchmark - scale {meta.get('scale', {}).get('name')}, "
                 f"{processes} API process{'es' if processes != 1 else ''}")
    console.print(f"machine: {meta.get('cpu')} x{meta.get('cores')}, {meta.get('memory_gib')} GiB,"
                  f" Python {meta.get('python')}, {meta.get('postgres', '')}, Redis "
                  f"{meta.get('redis', '')}; load average at start {meta.get('loadavg_at_start')};"
                  f" commit {meta.get('git_commit')}")
    graph = results.get("graph", {})
    load = results.get("load", {})
    console.print(f"graph: {graph}")
    console.print(f"bulk load per s: {load.get('per_s')}  (seconds {load.get('seconds')})")
    console.print(f"worker's Kafka stream after the catch-up: {load.get('stream_drain')}")
    console.print(f"cores used with no load at all: {results.get('idle_cores')}")
    warm = results.get("prewarm")
    if warm:
        console.print(f"first read of {warm['readers']:,} warm readers ({warm['concurrency']} "
                      f"concurrent, closed loop): {warm['reads_per_s']}/s, p50 {ms(warm['p50'])} "
                      f"ms, p99 {ms(warm['p99'])} ms, statuses {warm['statuses']}")

    pg = raw.get("postgres_insert", {})
    redis_read = raw.get("redis_page_read", {})
    hydrate = raw.get("postgres_hydrate", {})
    http = raw.get("http_trivial")
    table = Table(title="Raw limits (bare clients, same machine, same run)", title_justify="left")
    for column in ("building block", "throughput", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "building block" else "left")
    table.add_row("PostgreSQL: 1 event-row INSERT per tx, 1 conn", per_s(pg.get("tx_per_s")),
                  ms(pg.get("p50")), ms(pg.get("p99")))
    table.add_row("PostgreSQL: 20 posts JOIN accounts (hydrate)",
                  per_s(hydrate.get("reads_per_s")), ms(hydrate.get("p50")),
                  ms(hydrate.get("p99")))
    table.add_row("Redis: ZREVRANGE 20 + MGET 20x500 B (1 conn / 32 conc.)",
                  f"{per_s(redis_read.get('sequential_reads_per_s'))} / "
                  f"{per_s(redis_read.get('reads_per_s_32_concurrent'))}",
                  ms(redis_read.get("p50")), ms(redis_read.get("p99")))
    for size, fan in raw.get("redis_fanout", {}).items():
        table.add_row(f"Redis: fan-out ZADD+trim to {int(size):,} sets (pipelined)",
                      f"{per_s(fan['inserts_per_s'])} inserts", ms(fan["ms"]), "")
    if http:
        best = max(http.get("steps", [{}]), key=lambda s: s.get("achieved_per_s", 0))
        table.add_row("FastAPI trivial 1 KB JSON, same generator",
                      f"{per_s(http.get('max_achieved_per_s'))} (sat. at "
                      f"{http.get('saturated_at') or '>' + str(best.get('offered_per_s'))})",
                      ms(best.get("p50")), ms(best.get("p99")))
    console.print(table)

    floor = sum(_num(x) for x in (http["steps"][0]["p50"] if http and http.get("steps")
                                  else math.nan, hydrate.get("p50"), redis_read.get("p50")))
    reads_warm = results.get("reads_warm")
    if reads_warm:
        console.print(_sweep_table(
            "Home timeline, warm (red = saturated)", reads_warm, http, floor,
            "HTTP+Redis+PG floor"))
    cold = results.get("reads_cold")
    if cold:
        rebuilt = cold.get("rebuilt_keys_sampled")
        console.print(_sweep_table(
            f"Home timeline, cold (Redis key deleted; rebuilt keys {rebuilt})",
            cold, http, floor, "HTTP+Redis+PG floor"))
    posts = results.get("posts")
    if posts:
        console.print(_sweep_table("Post creation (red = saturated)", posts, http,
                                   _num(pg.get("p50")), "raw PG insert"))
        console.print(f"post creation: best {per_s(posts.get('max_achieved_per_s'))}/s = "
                      f"{share(posts.get('max_achieved_per_s'), pg.get('tx_per_s'))} "
                      "(raw single-row insert transactions)")
    if reads_warm and http:
        best_read = reads_warm.get("max_achieved_per_s")
        console.print(f"home reads: best {per_s(best_read)}/s = "
                      f"{share(best_read, http.get('max_achieved_per_s'))}"
                      " (trivial FastAPI endpoint)")

    fan = results.get("fanout")
    if fan:
        table = Table(title="Fan-out lag: 201 -> readable by every follower (sampled readers "
                            "saw it, projectors done)",
                      title_justify="left")
        for column in ("followers", "posts", "lag p50 ms", "lag p95 ms", "lag p99 ms",
                       "sampled p50", "first follower p50", "relay p50", "read_models p50",
                       "timelines p50", "timeouts", "vs raw Redis fan-out"):
            table.add_column(column, justify="right")
        for size, row in fan.items():
            raw_fan = raw.get("redis_fanout", {}).get(size, {}).get("ms")
            table.add_row(f"{int(size):,}", str(row["posts"]), ms(row["lag"]["p50"]),
                          ms(row["lag"]["p95"]), ms(row["lag"]["p99"]),
                          ms(row.get("sampled_followers_ms", {}).get("p50")),
                          ms(row["first_follower_ms"]["p50"]),
                          *(ms(row.get("stages_ms_p50", {}).get(n))
                            for n in ("relay", "read_models", "timelines")),
                          str(row["timeouts"]),
                          times(row["lag"]["p50"], raw_fan))
        console.print(table)

    mixed = results.get("mixed")
    catch = load.get("catch_up_after_load", {})
    table = Table(title="Pipeline", title_justify="left")
    for column in ("component", "bulk ev/s", "vs raw PG tx/s", "mixed ev/s",
                   "mixed lag p50 s", "mixed lag p99 s", "mixed lag max s"):
        table.add_column(column, justify="right" if column != "component" else "left")
    pipe = mixed.get("pipeline", {}) if mixed else {}
    rebuilt = load.get("rebuild", {})
    for name in ("event_store", "relay", "read_models", "timelines"):
        c, m = catch.get(name, {}), pipe.get(name, {})
        rate = rebuilt[name].get("per_s") if name in rebuilt else c.get("catch_up_events_per_s")
        table.add_row(name, per_s(rate), share(rate, pg.get("tx_per_s")),
                      per_s(m.get("events_per_s")), ms(m.get("lag_s_p50")),
                      ms(m.get("lag_s_p99")), ms(m.get("lag_s_max")))
    console.print(table)
    if rebuilt:
        console.print(
            "bulk ev/s: the projectors rebuilt from the event store, both at once ("
            + ", ".join(f"{n} {r.get('events', 0):,} events in {r.get('seconds')} s"
                        for n, r in rebuilt.items())
            + f"); the relay published the last {load.get('relay_backlog', 0):,} bulk events")
    for mixed in (results.get("mixed"), results.get("mixed_goal")):
        if not mixed:
            continue
        table = Table(title=f"Mixed 10:1 load at {mixed['rate']}/s", title_justify="left")
        for column in ("request", "achieved/s", "p50 ms", "p95 ms", "p99 ms", "failed",
                       "non-2xx"):
            table.add_column(column, justify="right")
        for kind, step in mixed["kinds"].items():
            table.add_row(kind, per_s(step["achieved_per_s"]), ms(step["p50"]), ms(step["p95"]),
                          ms(step["p99"]), str(step["failed"]),
                          " ".join(f"{code}x{n}" for code, n in step["statuses"].items()
                                   if not code.startswith("2")) or "-")
        console.print(table)
        console.print(f"cores used during the mixed load at {mixed['rate']}/s: "
                      f"{mixed.get('server_cores')}; API CPU per request "
                      f"{ms(mixed.get('api_cpu_ms_per_request'))} ms")

    mem = results.get("memory")
    if mem:
        table = Table(title="Memory", title_justify="left")
        for column in ("what", "count", "bytes each", "bytes per entry"):
            table.add_column(column, justify="right" if column != "what" else "left")
        for family, row in mem["redis"].get("families", {}).items():
            table.add_row(f"Redis {family} ({row['type']})", f"{row['keys']:,}",
                          f"{row['bytes_per_key']:,}", f"{row['bytes_per_entry']:,}")
        for name, row in mem["postgres"].items():
            table.add_row(f"PostgreSQL {name}", f"{row['rows']:,}",
                          f"{row['bytes_per_row'] or 0:,.0f}", "")
        for name, row in mem["processes"].items():
            table.add_row(f"RSS {name}", "", f"{row['rss_bytes'] / 2**20:,.0f} MiB",
                          f"peak {row['peak_rss_bytes'] / 2**20:,.0f} MiB")
        console.print(table)

    table = Table(title="Goals", title_justify="left")
    for column in ("goal", "measured ms", "verdict"):
        table.add_column(column)
    for row in results.get("goals", []):
        table.add_row(row["goal"], ms(row["measured"]), row["verdict"],
                      style="green" if row["verdict"].startswith("met") else "red")
    console.print(table)
    if results.get("phases_failed"):
        console.print(f"[red]failed phases: {results['phases_failed']}[/red]")


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(nan_to_none(results), option=orjson.OPT_INDENT_2))
