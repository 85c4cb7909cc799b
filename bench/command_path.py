"""``python -m bench.command_path``: the CPU one post creation costs in-process.

Runs ``CommandBus.handle(CreatePost)`` on PostgreSQL (a database of its own,
dropped afterwards) ``--posts`` times for one author, after a warm-up, and
prints the process CPU per post: the handler alone, and with the answer the
route builds from its result (``post_answer(PostView.from_answer(...))``).
Beside it, the raw limit of the block underneath: one event-shaped row
INSERT per transaction through bare psycopg (``bench.rawlimits``), client CPU
per row. ``--profile FILE`` writes a pyinstrument profile (text) of the timed
loop. Never asserts timings; the machine is shared, so compare two trees by
running them interleaved several times and taking medians.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import Any, cast

import psycopg

from bench.stack import bench_settings, clear_redis_prefix
from infra.database import drop_database, migrate
from infra.settings import Settings


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.command_path", description=__doc__)
    parser.add_argument("--posts", type=int, default=2_000, help="timed posts (2,000)")
    parser.add_argument("--warmup", type=int, default=200, help="posts before timing (200)")
    parser.add_argument("--mentions", default="nobody in particular",
                        help="what the post text mentions, e.g. '@bench_author' (none)")
    parser.add_argument("--profile", metavar="FILE", help="pyinstrument text profile to FILE")
    return parser.parse_args(argv)


def raw_insert_cpu_ms(settings: Settings, rows: int = 2_000) -> float:
    """Client CPU (ms) of one event-shaped single-row INSERT transaction, bare psycopg."""
    from bench.rawlimits import SCRATCH_TABLE, STATE

    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCRATCH_TABLE} (notification_id bigserial PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version int NOT NULL, topic text NOT NULL, "
            "state bytea NOT NULL, UNIQUE (originator_id, originator_version))")
        sql = (f"INSERT INTO {SCRATCH_TABLE} (originator_id, originator_version, topic, state) "
               "VALUES (%s, 1, 'domain.posts:Post.Created', %s)")
        started = time.process_time()
        for _ in range(rows):
            with conn.transaction():
                conn.execute(sql, (uuid.uuid4(), STATE))
        cpu = time.process_time() - started
        conn.execute(f"DROP TABLE {SCRATCH_TABLE}")
    return cpu / rows * 1000


def measure(settings: Settings, posts: int, warmup: int, profile: str | None,
            mentions: str) -> dict[str, Any]:
    """CPU ms per post of the handler, and of the handler with the route's answer."""
    from commands.messages import Actor, CreatePost, RegisterAccount
    from commands.views import PostView
    from infra.bootstrap import build_command_bus, close_command_bus
    from infra.http.answers import account_answer, post_answer
    from ports.records import Profile

    bus = build_command_bus(settings)
    try:
        signed_up = bus.handle(RegisterAccount("bench_author", "author@bench.example.com",
                                               "bench-password", "Bench Author"))
        actor = Actor(int(signed_up.data["id"]), "bench_author", "bench-cmd")
        author = account_answer(cast(Profile, signed_up.data))
        text = f"a post about #roost for {mentions}, some sixty characters long."
        for _ in range(warmup):
            post_answer(cast(PostView, bus.handle(CreatePost(actor, text)).data),
                        author, True)
        profiler = _profiler(profile)
        started = time.process_time()
        for _ in range(posts):
            bus.handle(CreatePost(actor, text))
        handler = time.process_time() - started
        started = time.process_time()
        for _ in range(posts):
            post_answer(cast(PostView, bus.handle(CreatePost(actor, text)).data),
                        author, True)
        answered = time.process_time() - started
        if profiler is not None and profile is not None:
            profiler.stop()
            with open(profile, "w") as out:
                out.write(profiler.output_text(unicode=False, color=False, show_all=False))
    finally:
        close_command_bus(bus)
    return {"handler_ms": handler / posts * 1000, "answered_ms": answered / posts * 1000}


def _profiler(profile: str | None) -> Any:
    if profile is None:
        return None
    from pyinstrument import Profiler  # the bench extra

    profiler = Profiler(interval=0.0005)
    profiler.start()
    return profiler


def main(argv: list[str]) -> int:
    args = parse(argv)
    settings = bench_settings(uuid.uuid4().hex[:8], 0, 0, 0, {"log_level": "WARNING"})
    migrate(settings)
    try:
        result = measure(settings, args.posts, args.warmup, args.profile, args.mentions)
        raw = raw_insert_cpu_ms(settings)
    finally:
        drop_database(settings)
        clear_redis_prefix(settings)
    print(f"CreatePost handler: {result['handler_ms']:.3f} ms CPU/post "
          f"({result['handler_ms'] / raw:.1f}x raw)")
    print(f"CreatePost + answer: {result['answered_ms']:.3f} ms CPU/post "
          f"({result['answered_ms'] / raw:.1f}x raw)")
    print(f"raw limit: {raw:.3f} ms client CPU per single-row INSERT transaction "
          "(bare psycopg, one connection)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
