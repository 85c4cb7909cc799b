"""Identifiers: Snowflake ids for public resources, deterministic UUIDs for aggregates.

A Snowflake id is 41 bits of milliseconds since ``EPOCH_MS``, 10 bits of node
id and 12 bits of sequence: time-ordered, unique across nodes, and below 2**63.

Aggregate ids are UUIDv5 of a name, so that "the account called alice" or
"the follow edge from 1 to 2" has exactly one possible id: a second attempt
to create it collides in the event store instead of creating a duplicate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from uuid import UUID, uuid5

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NODE_BITS = 10
SEQUENCE_BITS = 12
MAX_ID = 2**63 - 1
SNOWFLAKE_PATTERN = r"^[1-9][0-9]{0,18}$"  # the shape of an id; the range is checked too
NAMESPACE = UUID("6f1c3a52-6d55-4b7e-9d3e-2d1f0c8a7b11")


class SnowflakeGenerator:
    """Thread-safe generator of time-ordered 63-bit ids for one node."""

    def __init__(self, node_id: int, clock_ms: Callable[[], int] | None = None) -> None:
        if not 0 <= node_id < 2**NODE_BITS:
            raise ValueError(f"node_id must be in [0, {2**NODE_BITS})")
        self._node_id = node_id
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now = max(self._clock_ms(), self._last_ms)  # never go back in time
            sequence = 0
            if now == self._last_ms:
                sequence = (self._sequence + 1) % 2**SEQUENCE_BITS
                if sequence == 0:  # sequence exhausted: borrow the next ms
                    now += 1
            if not 0 <= now - EPOCH_MS < 2**41:  # refuse before changing any state
                raise RuntimeError(
                    f"clock reads {now} ms: outside the Snowflake range starting at {EPOCH_MS}"
                )
            self._last_ms, self._sequence = now, sequence
            return ((now - EPOCH_MS) << (NODE_BITS + SEQUENCE_BITS)) | (
                self._node_id << SEQUENCE_BITS
            ) | sequence


def snowflake_time_ms(snowflake: int) -> int:
    """The Unix time in milliseconds at which ``snowflake`` was allocated."""
    return (snowflake >> (NODE_BITS + SEQUENCE_BITS)) + EPOCH_MS


def parse_snowflake(text: str) -> int | None:
    """The id a path segment names, or ``None`` if it is not a 63-bit decimal."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or text.startswith("0"):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def _named(kind: str, name: str) -> UUID:
    return uuid5(NAMESPACE, f"/{kind}/{name}")


def account_uuid(username: str) -> UUID:
    return _named("accounts", username.lower())


def email_claim_uuid(email: str) -> UUID:
    return _named("emails", email.lower())


def post_uuid(post_id: int) -> UUID:
    return _named("posts", str(post_id))


def media_uuid(media_id: int) -> UUID:
    return _named("media", str(media_id))


def follow_uuid(follower_id: int, followee_id: int) -> UUID:
    return _named("follows", f"{follower_id}:{followee_id}")


def like_uuid(account_id: int, post_id: int) -> UUID:
    return _named("likes", f"{account_id}:{post_id}")


def repost_uuid(account_id: int, post_id: int) -> UUID:
    return _named("reposts", f"{account_id}:{post_id}")


def block_uuid(blocker_id: int, blocked_id: int) -> UUID:
    return _named("blocks", f"{blocker_id}:{blocked_id}")


def mute_uuid(muter_id: int, muted_id: int) -> UUID:
    return _named("mutes", f"{muter_id}:{muted_id}")


def idempotency_uuid(owner: str, key: str) -> UUID:
    """The record of an Idempotency-Key: ``owner`` is ``account:<id>`` or ``ip:<address>``."""
    return _named("idempotency", f"{owner}:{key}")


def notification_preferences_uuid(account_id: int) -> UUID:
    return _named("notification-preferences", str(account_id))
