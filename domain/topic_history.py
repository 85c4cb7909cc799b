"""Where event classes used to live: old topics that must keep resolving.

A stored event names its class by topic, ``"<module>:<qualname>"``
(``"domain.posts:Post.PostCreated"``). Renaming or moving a class changes the
topic of the events written from then on, but the events already stored keep
the old one. Each old topic is listed in ``FORMER_TOPICS`` with the class it
now means; ``register_former_topics`` registers them with ``eventsourcing``
(``register_topic``), so loading an aggregate resolves them, and
``infra.eventlog`` publishes them under the class's current name, so that
projectors, filters and the admin API see one type.

To rename ``Post.PostCreated`` to ``Post.Published`` (docs/architecture.md,
"Event schema versions"):

    FORMER_TOPICS = {"domain.posts:Post.PostCreated": Post.Published}

and keep the entry for as long as any such event is stored (for ever).
"""

from __future__ import annotations

from collections.abc import Mapping
from threading import Lock

from eventsourcing.utils import register_topic

FORMER_TOPICS: Mapping[str, type] = {}
"""Old topic -> the class it resolves to now. Empty: no class has moved yet."""

_registered: dict[str, type] = {}
_lock = Lock()


def register_former_topic(topic: str, cls: type) -> None:
    """Make stored events under ``topic`` load as ``cls`` in this process.

    Raises:
        eventsourcing.utils.TopicError: ``topic`` already means another class.
    """
    with _lock:
        register_topic(topic, cls)
        _registered[topic] = cls


def register_former_topics() -> None:
    """Register every entry of ``FORMER_TOPICS`` (idempotent)."""
    for topic, cls in FORMER_TOPICS.items():
        register_former_topic(topic, cls)


def former_topics() -> dict[str, type]:
    """Every old topic registered in this process, with the class it means."""
    with _lock:
        return dict(_registered)


register_former_topics()
