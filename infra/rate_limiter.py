"""Per-action rate limits, per account and per client address, counted in Redis.

Each limit is a setting ``ROOST_RATE_LIMIT_<ACTION>=<count>/<seconds>`` (see the
rate-limit block in ``infra.settings``), each count scaled by
``rate_limit_multiplier`` (``make up`` runs with 10, so scripted clients are not
throttled in development).

Algorithm: GCRA (the generic cell rate algorithm: a token bucket kept as one
timestamp). ``count/seconds`` means a burst of ``count``, then one more every
``seconds / count``. We chose it over the alternatives because:

* a sliding-window log is strict (never more than ``count`` in any window) but
  costs a sorted-set member per request: 7,500 per busy address, 1,000 likes
  per account; GCRA keeps one small key per (action, scope, identity);
* a fixed-window counter is as cheap but coarse: its ``Retry-After`` is "the
  next window", and a whole budget comes back at once at each window edge;
* GCRA is exact at the boundary (``count`` pass, the next is refused) and its
  ``Retry-After`` is precisely when one unit comes back; the bucket refills
  smoothly, so the long-run rate is ``count`` per ``seconds``.

``X-RateLimit-Reset`` is the number of seconds until the bucket is full again.
The script (``rate_limiter_gcra.lua``) reads Redis's clock (``TIME``), so API
processes with skewed clocks agree, and checks all of a request's buckets in one
call: a request refused in one scope is charged to none. ``hit_all_with`` sends
the charge in one pipeline with other commands (the HTTP dependency adds the
token's revocation check), so a request's overhead is one round trip. All keys live under
``settings.redis_prefix``.

Who a request is counted against is ``infra.http.client_identity``; the FastAPI
dependency, headers middleware and 429 handler are ``infra.http.ratelimit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domain.accounts import normalise_email
from domain.errors import RoostError
from infra.lua import Answer, PipelinedScript, load_script, loading
from infra.redis_clients import by_slot, is_cluster
from infra.ride_along import Rider
from infra.settings import Settings

LimitScope = Literal["account", "ip"]
HEADER_NAMES = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# (action, scope) -> the Settings field holding "<count>/<seconds>".
RULE_SETTINGS: dict[tuple[str, LimitScope], str] = {
    ("requests", "account"): "rate_limit_requests",
    ("requests", "ip"): "rate_limit_requests_ip",
    ("posts", "account"): "rate_limit_posts",
    ("posts", "ip"): "rate_limit_posts_ip",
    ("media", "account"): "rate_limit_media",
    ("media", "ip"): "rate_limit_media_ip",
    ("follows", "account"): "rate_limit_follows",
    ("follows", "ip"): "rate_limit_follows_ip",
    ("likes", "account"): "rate_limit_likes",
    ("likes", "ip"): "rate_limit_likes_ip",
    ("reposts", "account"): "rate_limit_reposts",
    ("reposts", "ip"): "rate_limit_reposts_ip",
    ("logins", "ip"): "rate_limit_logins",
    ("signups", "ip"): "rate_limit_signups",
    ("login_failures", "account"): "rate_limit_login_failures",
    ("login_failures", "ip"): "rate_limit_login_failures_ip",
}
ACTIONS = tuple(dict.fromkeys(action for action, _ in RULE_SETTINGS))
_RULE_TEXT = re.compile(r"([1-9][0-9]{0,8})/([1-9][0-9]{0,8})")

# GCRA over KEYS, all or nothing; KEYS, ARGV and the answer: see the .lua file.
_GCRA = load_script("infra", "rate_limiter_gcra")


@dataclass(frozen=True, slots=True)
class Rule:
    action: str
    scope: LimitScope
    limit: int
    window_s: int


@dataclass(frozen=True, slots=True)
class Decision:
    """One bucket's answer; ``remaining`` counts what is left after this request."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(math.ceil(self.reset_s))}


Charges = list[tuple[str, LimitScope, Decision]]
"""A charge's decisions, one a bucket: (action, scope, decision)."""
Bucket = tuple[str, LimitScope, str]
"""One rate-limit bucket: (action, scope, identity)."""
Charged = tuple[dict[LimitScope, Decision], list[Any]]
"""A charge's answer: the decision of each scope's bucket, and the answers of the
commands sent along with it (``hit_all_with``'s ``also``)."""


def tightest(decisions: Sequence[Decision]) -> Decision:
    """The decision closest to refusing: a refusal, the one that lasts longest
    (``retry_after_s``, then ``reset_s``) -- the request passes only when every
    bucket allows it, so that is when a retry can pass; else the fewest remaining,
    then the longest reset. Of equals, the first."""
    return min(decisions, key=_closeness)


def _closeness(decision: Decision) -> tuple[bool, float, float]:
    if decision.allowed:
        return True, decision.remaining, -decision.reset_s
    return False, -decision.retry_after_s, -decision.reset_s


def by_scope(action: str, decisions: Mapping[LimitScope, Decision]) -> Charges:
    """One action's decisions by scope, as ``Charges``."""
    return [(action, scope, decision) for scope, decision in decisions.items()]


def refusal(charged: Sequence[tuple[str, LimitScope, Decision]]) -> RateLimited | None:
    """429 for the bucket of a request's charge that refused it longest (``tightest``
    among the refusals: its ``Retry-After`` is when a retry can pass every bucket), or
    ``None`` when every bucket allowed it. ``charged``: (action, scope, decision)."""
    refusals = [row for row in charged if not row[2].allowed]
    if not refusals:
        return None
    worst = tightest([decision for _, _, decision in refusals])
    action, scope, decision = next(row for row in refusals if row[2] is worst)
    return RateLimited(action, scope, decision)


class RateLimited(RoostError):
    """429; ``headers`` carry Retry-After and the refusing bucket's X-RateLimit-*."""

    status = 429
    code = "rate_limited"

    def __init__(self, action: str, scope: LimitScope, decision: Decision) -> None:
        retry = max(1, math.ceil(decision.retry_after_s))
        super().__init__(
            f"too many {action.replace('_', ' ')} for this {scope}: at most {decision.limit} "
            f"in the window; retry in {retry} s",
            action=action, scope=scope, retry_after_s=retry,
        )
        self.decision = decision
        self.headers = {"Retry-After": str(retry), **decision.headers()}


def parse_rule(text: str, setting: str) -> tuple[int, int]:
    """``"300/10800"`` -> ``(300, 10800)``; a clear error naming the variable otherwise."""
    match = _RULE_TEXT.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"ROOST_{setting.upper()} must be <count>/<seconds> with positive integers "
            f"(e.g. 300/10800), not {text!r}"
        )
    return int(match[1]), int(match[2])


def rules_from_settings(settings: Settings) -> dict[tuple[str, LimitScope], Rule]:
    """Every (action, scope) rule, counts scaled by the multiplier (at least 1)."""
    multiplier = settings.rate_limit_multiplier
    rules: dict[tuple[str, LimitScope], Rule] = {}
    for (action, scope), field in RULE_SETTINGS.items():
        count, window_s = parse_rule(str(getattr(settings, field)), field)
        rules[action, scope] = Rule(action, scope, max(1, int(count * multiplier)), window_s)
    return rules


def login_identity(login: str, ip: str) -> str:
    """The ``login_failures`` "account" bucket's identity: one login name (case-insensitive)
    from one client address, hashed so that no email lands in a Redis key.

    Keyed by name *and* address, as Auth0's brute-force protection blocks "the same
    user from the same IP address" (auth0.com/docs/secure/attack-protection/
    brute-force-protection): the failures an attacker piles up lock the attacker's
    address out of that name, never its owner logging in from elsewhere. An email is
    counted as the login finds it (``normalise_email``, then case-folded), so its
    thousands of Unicode spellings share one budget. Counted per name, not per
    account: a username and its email are two names, because one budget for both
    would tell whoever exhausts it which email is whose.
    """
    name = login.strip()
    if "@" in name:  # an email: every spelling the login finds its account by is one
        with contextlib.suppress(ValueError):  # (full-width letters, U+3002 for a dot)
            name = normalise_email(name)
    name = name.casefold()
    return hashlib.sha256(f"{name}\x00{ip}".encode()).hexdigest()[:32]


class RateLimiter:
    """The rules in force and their Redis buckets."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.rules = rules_from_settings(settings)
        self.trust_forwarded_for = settings.trust_forwarded_for
        self._prefix = settings.redis_prefix
        self._redis = redis
        self._gcra = PipelinedScript(_GCRA)
        self._cluster = is_cluster(redis)

    def key(self, action: str, scope: LimitScope, identity: str) -> str:
        return f"{self._prefix}ratelimit:{action}:{scope}:{identity}"

    async def hit(self, action: str, scope: LimitScope, identity: str) -> Decision:
        """Charge one request to one bucket (a refused request costs nothing)."""
        return (await self._run(action, {scope: identity}, charge=True))[scope]

    async def peek(self, action: str, scope: LimitScope, identity: str) -> Decision:
        """What ``hit`` would answer, without charging; ``remaining`` is what is left now."""
        return (await self._run(action, {scope: identity}, charge=False))[scope]

    async def hit_all(self, action: str, identities: Mapping[LimitScope, str]
                      ) -> dict[LimitScope, Decision]:
        """Charge every scope that has a rule for ``action``, or none if one refuses."""
        wanted = {s: i for s, i in identities.items() if (action, s) in self.rules}
        return await self._run(action, wanted, charge=True) if wanted else {}

    async def check_login_allowed(self, login: str, ip: str) -> None:
        """Raise RateLimited while this login name from this address, or this address,
        failed too often."""
        identities: dict[LimitScope, str] = {"account": login_identity(login, ip), "ip": ip}
        looked = await self._run("login_failures", identities, False)
        if (refused := refusal(by_scope("login_failures", looked))) is not None:
            raise refused

    async def login_failed(self, login: str, ip: str) -> list[Decision]:
        """Count a failed login against the name from this address and against the
        address: what is left of both."""
        charged = await self._run("login_failures",
                                  {"account": login_identity(login, ip), "ip": ip}, True)
        return list(charged.values())

    async def login_succeeded(self, login: str, ip: str) -> None:
        """Forget the name's failures from this address (never the address's: one's own
        account must not wipe the failures an address piled up against others)."""
        await self._redis.delete(
            self.key("login_failures", "account", login_identity(login, ip)))

    async def _run(self, action: str, identities: Mapping[LimitScope, str], charge: bool
                   ) -> dict[LimitScope, Decision]:
        """One script over the buckets, all charged or none. On a Redis Cluster the
        buckets of several identities are in different slots: each slot's are looked
        at first (no charge), and only when all allow is each slot's charged, by a
        script that checks again: a request racing another for the last unit of one
        bucket may then be charged to the others and refused (one unit, at most)."""
        groups = self._slot_groups(action, identities)
        if len(groups) == 1:
            return (await self._pipelined(action, identities, charge, None))[0]
        looked: dict[LimitScope, Decision] = {}
        for found in await asyncio.gather(*(
                self._pipelined(action, {s: identities[s] for s in group}, False, None)
                for group in groups)):
            looked.update(found[0])
        if not charge or not all(d.allowed for d in looked.values()):
            return {scope: looked[scope] for scope in identities}
        charged: dict[LimitScope, Decision] = {}
        for found in await asyncio.gather(*(
                self._pipelined(action, {s: identities[s] for s in group}, True, None)
                for group in groups)):
            charged.update(found[0])
        return {scope: charged[scope] for scope in identities}

    def _slot_groups(self, action: str, identities: Mapping[LimitScope, str]
                     ) -> list[list[LimitScope]]:
        return by_slot(identities, lambda s: self.key(action, s, identities[s]),
                       self._cluster)

    async def hit_all_with(self, action: str, identities: Mapping[LimitScope, str],
                           also: Callable[[Pipeline], object]
                           ) -> tuple[dict[LimitScope, Decision], list[Any]]:
        """``hit_all``, and the commands ``also(pipe)`` queues, in one pipeline (one round
        trip, whatever hash slots the keys are in): the decisions, and the answers of
        those commands. They run whether or not the charge is refused. (On a Redis
        Cluster with buckets in several slots: ``_run``'s calls, then that pipeline.)"""
        wanted = {s: i for s, i in identities.items() if (action, s) in self.rules}
        if len(self._slot_groups(action, wanted)) > 1:
            decisions = await self._run(action, wanted, True)
            async with self._redis.pipeline(transaction=False) as pipe:
                also(pipe)
                answers: list[Any] = await pipe.execute()
            return decisions, answers
        return await self._pipelined(action, wanted, True, also)

    async def _pipelined(self, action: str, identities: Mapping[LimitScope, str],
                         charge: bool, also: Callable[[Pipeline], object] | None
                         ) -> tuple[dict[LimitScope, Decision], list[Any]]:
        queue = self.queue_charge(action, identities, charge, also)

        async def run() -> tuple[dict[LimitScope, Decision], list[Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                answer = queue(pipe)
                return answer.read(await pipe.execute())

        return await loading(self._redis, [self._gcra], run)

    def rides_along(self, action: str, identities: Mapping[LimitScope, str],
                    also: Callable[[Pipeline], object]) -> Rider[Charged] | None:
        """``hit_all_with``'s round trip as a ``infra.ride_along.Rider`` (sent with the
        request's first boarding pipeline, or alone by ``arrive``); ``None`` when it
        cannot ride: on a Redis Cluster (the buckets, the token's keys and the read's
        keys are in different slots), or with no rule for ``action``. ``also`` must
        queue exactly one command per reply it expects (no nested pipelines)."""
        wanted = {s: i for s, i in identities.items() if (action, s) in self.rules}
        if self._cluster or not wanted:
            return None
        return Rider(self._redis, self.queue_charge(action, wanted, True, also), [self._gcra])

    def queue_charge(self, action: str, identities: Mapping[LimitScope, str], charge: bool,
                     also: Callable[[Pipeline], object] | None
                     ) -> Callable[[Pipeline], Answer[Charged]]:
        """How to queue one call of the script over ``identities``' buckets of
        ``action`` (``charge``: charge them, else only look), then ``also(pipe)``'s
        commands, and read their replies: the decisions by scope and ``also``'s
        answers. All of ``identities`` must be in one hash slot group."""
        scopes = list(identities)
        queue = self._queue_buckets([(action, scope, identities[scope]) for scope in scopes],
                                    charge, also)

        def by_scope(pipe: Pipeline) -> Answer[Charged]:
            answer = queue(pipe)

            def read(found: Sequence[Any]) -> Charged:
                decisions, answers = answer.read(found)
                return dict(zip(scopes, decisions, strict=True)), answers

            return Answer(answer.replies, read)

        return by_scope

    def _queue_buckets(self, buckets: Sequence[Bucket], charge: bool,
                       also: Callable[[Pipeline], object] | None
                       ) -> Callable[[Pipeline], Answer[tuple[list[Decision], list[Any]]]]:
        """``queue_charge`` over any ``buckets`` (of one hash slot group), all charged
        or none: their decisions in order, and ``also``'s answers."""
        rules = [self._rule(action, scope) for action, scope, _ in buckets]
        args: list[int] = [1 if charge else 0]
        for rule in rules:
            args += [rule.limit, rule.window_s * 1_000_000]
        keys = [self.key(*bucket) for bucket in buckets]

        def read(found: Sequence[Any]) -> tuple[list[Decision], list[Any]]:
            if not buckets:
                return [], list(found)
            rows: list[list[int]] = found[0]
            return [Decision(bool(row[0]), rule.limit, int(row[1]), row[2] / 1e6, row[3] / 1e6)
                    for rule, row in zip(rules, rows, strict=True)], list(found[1:])

        def queue(pipe: Pipeline) -> Answer[tuple[list[Decision], list[Any]]]:
            before = len(pipe)
            if buckets:
                self._gcra.queue(pipe, keys, args)
            if also is not None:
                also(pipe)
            return Answer(len(pipe) - before, read)

        return queue

    async def hit_together(self, charges: Sequence[tuple[str, Mapping[LimitScope, str]]],
                           also: Callable[[Pipeline], object] | None = None
                           ) -> tuple[Charges, list[Any]] | None:
        """Charge several actions' buckets at once -- a request's ``requests`` and the
        action its route limits (``posts``, ``follows``...) -- in one script call, all
        or none (a request refused by any bucket is charged to none), with ``also``'s
        commands in the same pipeline: each bucket's decision, in the order given, and
        ``also``'s answers. ``None`` when the buckets are in several hash slots (a Redis
        Cluster: the caller charges each action apart)."""
        buckets = [(action, scope, identity) for action, identities in charges
                   for scope, identity in identities.items() if (action, scope) in self.rules]
        if len(by_slot(buckets, lambda b: self.key(*b), self._cluster)) > 1:
            return None
        queue = self._queue_buckets(buckets, True, also)

        async def run() -> tuple[list[Decision], list[Any]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                answer = queue(pipe)
                return answer.read(await pipe.execute())

        decisions, answers = await loading(self._redis, [self._gcra], run)
        return [(action, scope, decision) for (action, scope, _), decision
                in zip(buckets, decisions, strict=True)], answers

    def _rule(self, action: str, scope: LimitScope) -> Rule:
        rule = self.rules.get((action, scope))
        if rule is None:
            raise ValueError(f"no {scope} rate limit is defined for {action!r}")
        return rule
