"""The event types this code knows: every event class of every aggregate in ``domain``.

A stored event whose type is not among them (a class since renamed or removed,
an import from elsewhere, a corrupt row) cannot be projected by any projector:
the runners park it at once instead of silently skipping it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from eventsourcing.domain import Aggregate, DomainEvent

import domain


@cache
def known_event_types() -> frozenset[str]:
    """Class names of the domain's events (``PostCreated``, ``Followed``, ...)."""
    names: set[str] = set()
    for info in pkgutil.iter_modules(domain.__path__):
        module = importlib.import_module(f"{domain.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Aggregate):
                names.update(attr.__name__ for attr in vars(value).values()
                             if isinstance(attr, type) and issubclass(attr, DomainEvent))
    return frozenset(names)
