"""Scale presets: graph size, the rates swept and how long each step runs."""

from __future__ import annotations

from dataclasses import dataclass, replace

MEASURED = ("raw", "reads_warm", "posts", "fanout", "mixed", "reads_cold", "memory")
"""The measured phases after the idle one, in order; ``python -m bench --only`` runs some."""


@dataclass(frozen=True)
class Scale:
    """Everything that grows with ``--scale``."""

    name: str
    accounts: int
    avg_follows: float
    avg_posts: float
    fanout_buckets: tuple[int, ...]
    planted_per_bucket: int
    step_s: float
    post_rates: tuple[int, ...]
    read_rates: tuple[int, ...]
    cold_rates: tuple[int, ...]
    raw_http_rates: tuple[int, ...]
    mixed_rate: int  # total requests/s of the 10:1 mixed phase
    mixed_s: float
    fanout_posts: int  # posts measured per bucket
    fanout_sample: int  # followers polled per post
    warm_readers: int
    cold_readers: int
    catch_up_timeout_s: float
    relay_backlog: int = 50_000  # bulk events the relay publishes at start (the rest: done)
    loader_processes: int = 2
    generator_processes: int = 2


SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke", accounts=400, avg_follows=8, avg_posts=2,
        fanout_buckets=(10, 100, 399), planted_per_bucket=1, step_s=3.0,
        post_rates=(10, 40), read_rates=(50, 200), cold_rates=(20,),
        raw_http_rates=(200, 1000), mixed_rate=110, mixed_s=4.0,
        fanout_posts=2, fanout_sample=3, warm_readers=150, cold_readers=100,
        catch_up_timeout_s=120,
    ),
    "small": Scale(
        name="small", accounts=2_000, avg_follows=20, avg_posts=3,
        fanout_buckets=(10, 1_000, 1_999), planted_per_bucket=2, step_s=6.0,
        post_rates=(25, 50, 100, 200), read_rates=(100, 250, 500, 800),
        cold_rates=(50, 100), raw_http_rates=(500, 1_000, 2_000, 3_000), mixed_rate=330,
        mixed_s=10.0, fanout_posts=4, fanout_sample=5, warm_readers=800, cold_readers=600,
        catch_up_timeout_s=420,
    ),
    "default": Scale(
        name="default", accounts=10_000, avg_follows=100, avg_posts=1.5,
        fanout_buckets=(10, 1_000, 10_000), planted_per_bucket=1, step_s=8.0,
        post_rates=(25, 50, 100, 150, 250), read_rates=(100, 250, 500, 750, 1_000),
        cold_rates=(50, 100, 200), raw_http_rates=(500, 1_000, 2_000, 3_000, 4_000),
        mixed_rate=550, mixed_s=15.0, fanout_posts=5, fanout_sample=6, warm_readers=3_000,
        cold_readers=3_000, catch_up_timeout_s=900,
    ),
    "large": Scale(
        name="large", accounts=100_000, avg_follows=6, avg_posts=2,
        fanout_buckets=(10, 1_000, 10_000, 20_000), planted_per_bucket=2, step_s=15.0,
        post_rates=(25, 50, 100, 150, 250, 400), read_rates=(100, 250, 500, 750, 1_000, 1_500),
        cold_rates=(50, 100, 200, 400), raw_http_rates=(500, 1_000, 2_000, 3_000, 4_000, 6_000),
        mixed_rate=550, mixed_s=30.0, fanout_posts=8, fanout_sample=8, warm_readers=10_000,
        cold_readers=10_000, catch_up_timeout_s=5_400,
    ),
}


def scale_named(name: str, accounts: int | None = None, avg_follows: float | None = None,
                step_s: float | None = None) -> Scale:
    """A preset, with the command line's overrides applied."""
    scale = SCALES[name]
    changes: dict[str, object] = {}
    if accounts is not None:
        changes["accounts"] = accounts
        changes["fanout_buckets"] = tuple(min(b, accounts - 1) for b in scale.fanout_buckets)
    if avg_follows is not None:
        changes["avg_follows"] = avg_follows
    if step_s is not None:
        changes["step_s"] = step_s
    return replace(scale, **changes)  # type: ignore[arg-type]
