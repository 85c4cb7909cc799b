"""The HTTP workloads of the benchmark, built from the loaded population."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import orjson

from bench.graph import post_text
from bench.loadgen import Kind, Workload
from infra.security import JwtTokens
from infra.settings import Settings

HOME = "/api/timelines/home?limit=20"
LIKE_PATH = "/api/posts/{post_id}/like"


@dataclass
class Population:
    """Who reads, who writes, what they follow and like: tokens minted up front."""

    warm_tokens: tuple[str, ...]
    cold_ids: tuple[int, ...]
    cold_tokens: tuple[str, ...]
    author_tokens: tuple[str, ...]
    follow_paths: tuple[str, ...]
    like_paths: tuple[str, ...] = ()
    post_bodies: tuple[bytes, ...] = field(default_factory=tuple)


def mint(settings: Settings, account_id: int, username: str) -> str:
    """An access token exactly as login issues one (same secret, same claims)."""
    return JwtTokens(settings).access_token(account_id, username, uuid.uuid4().hex)


def population(settings: Settings, ids: list[int], usernames: list[str], warm: int,
               cold: int, excluded: set[int], seed: int = 11) -> Population:
    """Split accounts into warm readers, cold readers and follow targets."""
    rng = random.Random(seed)
    order = [i for i in range(len(ids)) if i not in excluded]
    rng.shuffle(order)
    warm_idx = order[:warm]
    cold_idx = order[warm:warm + cold]
    rest = order[warm + cold:] or order
    tokens = JwtTokens(settings)

    def token(i: int) -> str:
        return tokens.access_token(ids[i], usernames[i], uuid.uuid4().hex)

    warm_tokens = tuple(token(i) for i in warm_idx)
    bodies = tuple(orjson.dumps({"text": post_text(rng, usernames)}) for _ in range(500))
    return Population(
        warm_tokens=warm_tokens,
        cold_ids=tuple(ids[i] for i in cold_idx),
        cold_tokens=tuple(token(i) for i in cold_idx),
        author_tokens=warm_tokens,
        follow_paths=tuple(f"/api/accounts/{usernames[i]}/follow" for i in rest[:2000]),
        post_bodies=bodies,
    )


def reads(pop: Population, port: int, rate: float, seconds: float) -> Workload:
    return Workload(port, rate, seconds, (Kind("home", 1, "GET", (HOME,), pop.warm_tokens),))


def cold_reads(pop: Population, port: int, rate: float, seconds: float) -> Workload:
    """Each cold reader once: the step is cut short if there are too few of them."""
    seconds = min(seconds, 0.95 * len(pop.cold_tokens) / rate)
    return Workload(port, rate, seconds, (
        Kind("home_cold", 1, "GET", (HOME,), pop.cold_tokens, sequential=True),))


def posts(pop: Population, port: int, rate: float, seconds: float) -> Workload:
    return Workload(port, rate, seconds, (
        Kind("post", 1, "POST", ("/api/posts",), pop.author_tokens, pop.post_bodies),))


def mixed(pop: Population, port: int, rate: float, seconds: float) -> Workload:
    """10 home-timeline reads per write; writes are posts, likes (if any) and follows."""
    writes = [("post", 0.5, "/api/posts", pop.post_bodies), ("follow", 0.2, None, ()),
              ("like", 0.3, None, ())]
    if not pop.like_paths:
        writes = [("post", 0.7, "/api/posts", pop.post_bodies), ("follow", 0.3, None, ())]
    kinds = [Kind("home", 10, "GET", (HOME,), pop.warm_tokens)]
    for name, weight, path, bodies in writes:
        paths = (path,) if path else (pop.follow_paths if name == "follow" else pop.like_paths)
        kinds.append(Kind(name, weight, "POST", paths, pop.author_tokens, bodies))
    return Workload(port, rate, seconds, tuple(kinds))
