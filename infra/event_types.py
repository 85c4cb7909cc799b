"""The event types this code knows: every event class of every aggregate in ``domain``.

A stored event whose type is not among them (a class since renamed or removed,
an import from elsewhere, a corrupt row) cannot be projected by any projector:
the runners park it at once instead of silently skipping it. A class that was
renamed or moved is still known under its old topic once that topic is listed in
``domain.topic_history.FORMER_TOPICS``: its events are published under the
class's current name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import get_topic

import domain
from domain.topic_history import former_topics


@cache
def _event_classes() -> dict[str, type]:
    """Current topic -> event class, for every event class of the domain's aggregates."""
    classes: dict[str, type] = {}
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"{domain.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Aggregate):
                for attr in vars(value).values():
                    if isinstance(attr, type) and issubclass(attr, DomainEvent):
                        classes[get_topic(attr)] = attr
    return classes


@cache
def known_event_types() -> frozenset[str]:
    """Class names of the domain's events (``PostCreated``, ``Followed``, ...)."""
    return frozenset(cls.__name__ for cls in _event_classes().values())


def event_class(topic: str) -> type | None:
    """The class a stored event's topic means now (its current or a former topic), or
    ``None`` for a topic no class of the domain answers to."""
    return _event_classes().get(topic) or former_topics().get(topic)


def topics_of_types(types: Iterable[str]) -> list[str]:
    """Every topic that events of these type names are stored under: each class's
    current topic and its former ones (``domain.topic_history``). Names that are no
    type add nothing."""
    wanted = set(types)
    topics = [topic for topic, cls in _event_classes().items() if cls.__name__ in wanted]
    topics += [topic for topic, cls in former_topics().items() if cls.__name__ in wanted]
    return sorted(set(topics))
