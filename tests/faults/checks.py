"""What must hold after a fault: each check returns the problems it found, as text.

The checks compare three records: what the load was told (acknowledgements and
refusals), what the event store holds (the truth), and what the API serves.
Every problem is collected rather than stopping at the first, so one run shows
the whole damage of a fault.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from typing import Any

import httpx
import psycopg
from rich.console import Console

from infra.bootstrap import build_projections
from infra.eventlog import EVENTS_TABLE, decode_rows
from infra.operations import rebuild
from infra.redis_keys import RedisKeys
from infra.settings import Settings
from ports.events import EventEnvelope
from tests.faults.load import UNDECIDED_4XX, Write, WriteLoad
from tests.integration.pipeline import dump_tables

PROMPT_S = 3.0  # a refusal while a dependency is down comes at least this fast
LOAD_TYPES = ("PostCreated", "Liked", "Followed")


def store_events(settings: Settings, types: tuple[str, ...] = LOAD_TYPES
                 ) -> list[EventEnvelope]:
    """Every stored event of ``types``, oldest first, read straight from the store
    (sealed personal fields opened with their accounts' data keys, as the relay does)."""
    async def read() -> list[EventEnvelope]:
        async with await psycopg.AsyncConnection.connect(settings.postgres_conninfo) as conn:
            cur = await conn.execute(
                f"SELECT notification_id, originator_id::text, originator_version, topic, "
                f"state FROM {EVENTS_TABLE} ORDER BY notification_id")
            return await decode_rows(conn, await cur.fetchall())
    return [e for e in asyncio.run(read()) if e.type in types]


def _describe(write: Write) -> str:
    answers = [(round(a.elapsed_s, 2), a.status or a.error[:80], a.body[:120])
               for a in write.answers[-3:]]
    return (f"{write.kind} {write.method} {write.path} key={write.key} "
            f"by {write.actor.username}: {len(write.answers)} tries, last {answers}")


def server_errors(load: WriteLoad) -> list[str]:
    """Answers no client should get: a 5xx other than 503, or a 503 without
    Retry-After, or an answer that took longer than a client should wait."""
    problems = []
    for write in load.writes:
        bad = [a.status for a in write.answers if a.status is not None and a.status >= 500
               and (a.status != 503 or not a.retry_after)]
        if bad:
            problems.append(f"{len(bad)} answers {sorted(set(bad))} (503: without "
                            f"Retry-After) to {_describe(write)}")
    return problems


def _event_key(event: EventEnvelope) -> tuple[str, str]:
    """What a load write's event is about, in the load's own terms."""
    payload = event.payload
    if event.type == "PostCreated":
        return "post", str(payload["text"])
    if event.type == "Liked":
        return "like", f"{payload['account_id']}:{payload['post_id']}"
    return "follow", f"{payload['follower_id']}:{payload['followee_id']}"


def _write_key(write: Write, ids: dict[str, str]) -> tuple[str, str]:
    if write.kind == "post":
        return "post", write.target
    if write.kind == "like":
        return "like", f"{write.actor.id}:{write.target}"
    return "follow", f"{write.actor.id}:{ids[write.target]}"


def ledger(load: WriteLoad, events: list[EventEnvelope]) -> list[str]:
    """Each write's key produced at most one event, exactly one if acknowledged, and
    none if it was refused (a refusal must come before anything is appended)."""
    ids = {user.username: user.id for user in load.users}
    stored = Counter(_event_key(e) for e in events)
    problems = []
    for write in load.writes:
        count = stored[_write_key(write, ids)]
        if count > 1:
            problems.append(f"duplicated: {count} events for {_describe(write)}")
        elif write.acked and count == 0:
            problems.append(f"acknowledged but not stored: {_describe(write)}")
        elif write.refused and count:
            problems.append(f"refused but stored: {_describe(write)}")
    return problems


def _get(client: httpx.Client, path: str, position: int, token: str = "") -> httpx.Response:
    headers = {"Roost-Min-Position": str(position)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(path, headers=headers)


def readable(client: httpx.Client, load: WriteLoad, events: list[EventEnvelope]
             ) -> list[str]:
    """Every acknowledged post reads back, fresh, with its exact likes; every load
    account's posts, followers and following counts equal the stored events."""
    position = max([w.position or 0 for w in load.writes] + [e.position for e in events])
    problems = []
    likes = Counter(str(e.payload["post_id"]) for e in events if e.type == "Liked")
    for write in load.writes:
        if write.kind != "post" or not write.acked or write.result is None:
            continue
        post_id = str(write.result["id"])
        response = _get(client, f"/api/posts/{post_id}", position)
        if response.status_code != 200 or response.headers.get("Roost-Stale"):
            problems.append(f"GET /api/posts/{post_id} (min position {position}): "
                            f"{response.status_code} stale={response.headers.get('Roost-Stale')}"
                            f" {response.text[:200]}")
            continue
        body = response.json()
        if body["text"] != write.target or body["likes_count"] != likes[post_id]:
            problems.append(f"post {post_id}: text {body['text']!r} likes "
                            f"{body['likes_count']}, stored {write.target!r} likes "
                            f"{likes[post_id]}")
    for user in load.users:
        expected = {
            "posts_count": sum(1 for e in events if e.type == "PostCreated"
                               and str(e.payload["author_id"]) == user.id),
            "followers_count": sum(1 for e in events if e.type == "Followed"
                                   and str(e.payload["followee_id"]) == user.id),
            "following_count": sum(1 for e in events if e.type == "Followed"
                                   and str(e.payload["follower_id"]) == user.id),
        }
        response = _get(client, f"/api/accounts/{user.username}", position)
        if response.status_code != 200 or response.headers.get("Roost-Stale"):
            problems.append(f"GET /api/accounts/{user.username}: {response.status_code} "
                            f"stale={response.headers.get('Roost-Stale')} {response.text[:200]}")
            continue
        served = {name: response.json()[name] for name in expected}
        if served != expected:
            problems.append(f"{user.username}: served {served}, stored {expected}")
    return problems


def acknowledged_counts(load: WriteLoad, events: list[EventEnvelope]) -> list[str]:
    """Counts equal what was acknowledged: a stored load event that was never
    acknowledged is only allowed for a write still undecided when the load
    stopped (no answer: it may have been appended just before a connection
    dropped; or 409, its Idempotency-Key still in flight). A stored write last
    answered otherwise (a 503, a 404) was told it failed although it happened."""
    ids = {user.username: user.id for user in load.users}
    by_key = {_write_key(w, ids): w for w in load.writes}
    problems = []
    for event in events:
        write = by_key.get(_event_key(event))
        if write is not None and not write.acked and write.refused:
            continue  # reported by ledger()
        last = write.answers[-1].status if write is not None and write.answers else None
        if write is not None and not write.acked and last is not None and \
                last not in UNDECIDED_4XX:
            problems.append(f"stored, answered {write.answers[-1].status} and never "
                            f"acknowledged: {_describe(write)}")
    return problems


async def _projected_state(settings: Settings) -> dict[str, Any]:
    """Read-model rows and the timeline projector's own Redis keys (not the home
    timelines, which a rebuild leaves to each reader's next read)."""
    services = await build_projections(settings)
    try:
        keys = RedisKeys(settings.redis_prefix)
        skip = (keys.home(0).split("{")[0], keys.home_index(0).split("{")[0])
        state: dict[str, Any] = {"tables": await dump_tables(services.pool)}
        redis_state: dict[str, Any] = {}
        for pattern in keys.timeline_patterns():
            async for raw in services.redis.scan_iter(match=pattern, count=1000):
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                if key.startswith(skip):
                    continue
                raw_kind = await services.redis.type(key)
                kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
                if kind == "zset":
                    redis_state[key] = await services.redis.zrange(key, 0, -1, withscores=True)
                elif kind == "hash":
                    redis_state[key] = sorted((await services.redis.hgetall(key)).items())
                elif kind == "set":
                    redis_state[key] = sorted(await services.redis.smembers(key))
                else:
                    redis_state[key] = await services.redis.get(key)
        state["redis"] = redis_state
        return state
    finally:
        await services.close()


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    problems = []
    for name in sorted(set(before["tables"]) | set(after["tables"])):
        old = {repr(row) for row in before["tables"].get(name, [])}
        new = {repr(row) for row in after["tables"].get(name, [])}
        if old != new:
            problems.append(f"table {name}: only before rebuild {sorted(old - new)[:5]}, "
                            f"only after {sorted(new - old)[:5]}")
    old_keys, new_keys = set(before["redis"]), set(after["redis"])
    changed = sorted(k for k in old_keys & new_keys if before["redis"][k] != after["redis"][k])
    if old_keys != new_keys or changed:
        problems.append(f"redis: only before rebuild {sorted(old_keys - new_keys)[:5]}, only "
                        f"after {sorted(new_keys - old_keys)[:5]}, differing {changed[:5]}")
    return problems


def projections_equal_rebuild(settings: Settings) -> list[str]:
    """Rebuild both projections from the whole log (``roost projections rebuild``) and
    compare: what the live pipeline built must be what a rebuild builds."""
    async def run() -> list[str]:
        before = await _projected_state(settings)
        quiet = Console(file=io.StringIO())
        services = await build_projections(settings)
        try:
            for name in ("read_models", "timelines", "notification_groups"):
                await rebuild(settings, services, name, quiet)
        finally:
            await services.close()
        return _diff(before, await _projected_state(settings))

    return asyncio.run(run())
