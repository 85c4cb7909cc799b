"""``python -m bench [--scale smoke|small|default|large]``: run the benchmark suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from bench.config import MEASURED, SCALES, scale_named
from infra import devstack


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument("--accounts", type=int, help="override the scale's account count")
    parser.add_argument("--follows", type=float, help="override the average follows per account")
    parser.add_argument("--step-seconds", type=float, help="override each rate step's length")
    parser.add_argument("--celebrity-threshold", type=int,
                        help="override ROOST_CELEBRITY_THRESHOLD for the run")
    parser.add_argument("--api-workers", type=int, default=1, metavar="N",
                        help="API processes (ROOST_API_WORKERS; default 1): with N > 1 the "
                             "CPU figures sum the supervisor and its N serving processes")
    parser.add_argument("--log-level", default="INFO", help="the stack's log level (INFO)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the API, relay and worker during the mixed load")
    parser.add_argument("--skip-raw", action="store_true", help="skip the raw limits")
    parser.add_argument("--only", nargs="+", choices=MEASURED, default=(), metavar="PHASE",
                        help=f"run only these measured phases ({', '.join(MEASURED)}); "
                             "setup and the idle phase always run")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database, Redis keys and logs afterwards")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--report", metavar="JSON",
                        help="print the tables and draw the plot of an earlier run's JSON")
    args = parser.parse_args(argv)
    if args.api_workers < 1:
        parser.error(f"--api-workers must be at least 1, not {args.api_workers}")
    return args


def main(argv: list[str]) -> int:
    from bench.plot import plot
    from bench.report import goals, print_report, write_json
    from bench.runner import RESULTS, Options, Run

    args = parse(argv)
    devstack.interrupt_on_stop_signals()  # Ctrl-C and SIGTERM stop the run *with* cleanup
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)
    if args.report:
        import orjson

        path = Path(args.report)
        results = orjson.loads(path.read_bytes())
        results["goals"] = goals(results)
        print_report(results, console)
        console.print(f"plot: {plot(results, path.with_suffix('.png'))}")
        return 0
    scale = scale_named(args.scale, args.accounts, args.follows, args.step_seconds)
    run = Run(Options(scale, keep=args.keep, profile=args.profile, skip_raw=args.skip_raw,
                      log_level=args.log_level, celebrity_threshold=args.celebrity_threshold,
                      seed=args.seed, api_workers=args.api_workers,
                      phases=tuple(args.only)), console)
    results = run.run()
    results["goals"] = goals(results)
    base = RESULTS / f"{run.stamp}-{scale.name}" if args.api_workers == 1 else \
        RESULTS / f"{run.stamp}-{scale.name}-api{args.api_workers}"
    print_report(results, console)
    write_json(results, base.with_suffix(".json"))
    picture = plot(results, base.with_suffix(".png"))
    console.print(f"results: {base.with_suffix('.json')}"
                  + (f"\nplot:    {picture}" if picture else "\n(no plot: pip install matplotlib)"))
    return 1 if results.get("phases_failed") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
