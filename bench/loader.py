"""Bulk load of a generated graph through the command layer, in parallel processes.

* Sign-ups go through ``CommandBus.handle(RegisterAccount)`` (weak argon2
  settings for speed; see ``bench.stack.WEAK_ARGON2``).
* Posts go through ``CommandBus.handle(CreatePost)``.
* Follows build the same ``FollowEdge`` aggregate the SetFollow handler builds
  for a new edge and save 500 of them per transaction with
  ``RoostStore.save_all``: the handler reads up to nine aggregates per follow
  (both accounts, the edge, blocks both ways, the reverse edge...), ~6 ms, so
  a million follows through it would take hours. The generated graph
  satisfies the handler's rules by construction (no self-follows, no blocks,
  no duplicates), so the events are the ones the handler would append.

Each process gets its own Snowflake node id, so ids never collide.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.graph import Graph, post_text

NODE_BASE = 900
FOLLOW_BATCH = 500
_bus: Any = None


def _init(settings_values: dict[str, Any], counter: Any) -> None:
    global _bus
    from infra.bootstrap import build_command_bus
    from infra.settings import Settings

    with counter.get_lock():
        counter.value += 1
        node = NODE_BASE + counter.value
    _bus = build_command_bus(Settings(**{**settings_values, "node_id": node}))


def _register(chunk: list[tuple[int, str]]) -> list[tuple[int, int]]:
    from commands.messages import RegisterAccount

    done = []
    for index, username in chunk:
        result = _bus.handle(RegisterAccount(username, f"{username}@bench.example.com",
                                             "bench-password", f"Bench {username}"))
        done.append((index, int(result.data["id"])))
    return done


def _follow(chunk: list[tuple[int, int]]) -> int:
    from domain.follows import FollowEdge

    for at in range(0, len(chunk), FOLLOW_BATCH):
        edges = [FollowEdge(follower_id=a, followee_id=b) for a, b in chunk[at:at + FOLLOW_BATCH]]
        _bus.context.store.save_all(*edges)
    return len(chunk)


def _post(chunk: list[tuple[int, str, str]]) -> int:
    from commands.messages import Actor, CreatePost

    for account_id, username, text in chunk:
        _bus.handle(CreatePost(Actor(account_id, username, "bench-load"), text))
    return len(chunk)


@dataclass
class Loaded:
    """What the load produced: event-store ids by graph index, and how fast it went."""

    account_ids: list[int]
    rates: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for at in range(0, len(items), size):
        yield items[at:at + size]


def load_graph(settings_values: dict[str, Any], graph: Graph, processes: int,
               advance: Callable[[str, int, int], None]) -> Loaded:
    """Sign up, follow, post; ``advance(phase, done, total)`` reports progress."""
    ctx = mp.get_context("spawn")
    counter = ctx.Value("i", 0)
    loaded = Loaded(account_ids=[0] * graph.size)
    with ctx.Pool(processes, initializer=_init, initargs=(settings_values, counter)) as pool:
        def run(phase: str, func: Callable[[Any], Any], chunks: Iterable[list[Any]],
                total: int, count: Callable[[Any], int]) -> None:
            started, done = time.perf_counter(), 0
            advance(phase, 0, total)
            for result in pool.imap_unordered(func, chunks):
                done += count(result)
                if phase == "accounts":
                    for index, account_id in result:
                        loaded.account_ids[index] = account_id
                advance(phase, done, total)
            elapsed = time.perf_counter() - started
            loaded.seconds[phase] = round(elapsed, 2)
            loaded.rates[phase] = round(total / elapsed, 1) if elapsed else 0.0

        run("accounts", _register, _chunks(list(enumerate(graph.usernames)), 100),
            graph.size, len)
        ids = loaded.account_ids
        by_follower = sorted(graph.follows)
        run("follows", _follow, _chunks([(ids[a], ids[b]) for a, b in by_follower], 2_000),
            len(by_follower), lambda n: int(n))
        rng = random.Random(graph.seed)
        authors = [a for a, n in enumerate(graph.posts) for _ in range(n)]
        rng.shuffle(authors)
        posts = [(ids[a], graph.usernames[a], post_text(rng, graph.usernames)) for a in authors]
        run("posts", _post, _chunks(posts, 100), len(posts), lambda n: int(n))
    return loaded
