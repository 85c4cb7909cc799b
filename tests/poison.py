"""Poison events written straight into the event store, as an old version, an import
or a bug could have left them: each is a row of ``roost_events`` that the
command side would never write today."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import psycopg

from infra.settings import Settings

TIMESTAMP = {"_type_": "datetime_iso", "_data_": "2026-11-30T08:00:00.000000+00:00"}


@dataclass(frozen=True)
class Poison:
    """One stored row; ``parked_by`` names the projectors that cannot apply it."""

    name: str
    topic: str
    state: bytes
    parked_by: frozenset[str]


def _state(originator_topic: str, **fields: object) -> bytes:
    # the standard library writes integers beyond 64 bits, which orjson refuses
    return json.dumps({"timestamp": TIMESTAMP, "originator_topic": originator_topic,
                       **fields}).encode()


ALL = frozenset({"read_models", "timelines", "search_index", "trends"})
INDEXES = frozenset({"read_models", "timelines", "search_index"})  # trends ignore them
READ_MODELS = frozenset({"read_models"})
NOT_TIMELINES = frozenset({"read_models", "search_index", "trends"})
NOTIFICATIONS = "notification_groups"


def poison_events(author_id: int, follower_id: int) -> list[Poison]:
    """One of each kind, about real accounts (so a projector gets as far as it can)."""
    post = "domain.posts:Post"
    created = dict(author_id=author_id, author_username="x", mentions=[], hashtags=[],
                   reply_to_id=None, quote_of_id=None)
    return [
        # payloads the read models reject (PostgreSQL text holds no U+0000; a bigint
        # column no 2**70); the other projectors apply them
        Poison("nul in text", f"{post}.PostCreated",
               _state(post, post_id=7_000_000_001, **{**created, "text": "a\u0000b"}),
               READ_MODELS),
        Poison("out of range", f"{post}.PostCreated",
               _state(post, post_id=7_000_000_002, **{**created, "text": "ok",
                                                       "reply_to_id": 2**70}),
               READ_MODELS),
        # payloads that do not match their event class
        Poison("missing fields", f"{post}.PostCreated",
               _state(post, post_id=7_000_000_003, author_id=author_id),
               NOT_TIMELINES | {NOTIFICATIONS}),
        Poison("wrong types", f"{post}.PostDeleted",
               _state(post, post_id="not a number", author_id=author_id),
               INDEXES | {NOTIFICATIONS}),
        Poison("missing follower", "domain.follows:FollowEdge.Followed",
               _state("domain.follows:FollowEdge", followee_id=author_id, extra=[1, 2]),
               INDEXES | {NOTIFICATIONS}),
        # a type no event class has, and a row that is not even JSON
        Poison("unknown type", f"{post}.PostEdited",
               _state(post, post_id=7_000_000_004, text="edited"), ALL | {NOTIFICATIONS}),
        Poison("undecodable", f"{post}.PostCreated", b"\xff\x00 not json",
               ALL | {NOTIFICATIONS}),
    ]


def store(settings: Settings, events: list[Poison]) -> list[int]:
    """Append ``events`` to the event store, each as its own aggregate; their positions."""
    positions = []
    with psycopg.connect(settings.postgres_conninfo, autocommit=True) as conn:
        for event in events:
            row = conn.execute(
                "INSERT INTO roost_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, 1, %s, %s) RETURNING notification_id",
                (uuid.uuid4(), event.topic, event.state),
            ).fetchone()
            assert row is not None
            positions.append(int(row[0]))
    return positions
