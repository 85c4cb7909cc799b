"""Rewriting a stored event in eventsourcing's in-memory (POPO) recorder, for erasure.

Erasure rewrites the state of stored rows (``MemoryEventStore.forget_account``, as
the PostgreSQL store runs an ``UPDATE``). eventsourcing's POPO recorder offers no
public way to change a stored event, so this module is the one place that reaches
into it: ``POPOAggregateRecorder._stored_events``, the list ``select_notifications``
reads (position ``n`` is index ``n - 1``), under the recorder's ``_database_lock``.
``tests/unit/test_popo_rows.py`` pins the eventsourcing version and the shape of
those internals, so an upgrade that changes them fails there, not in erasure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

WRITTEN_FOR_EVENTSOURCING: Final = "9.5.6"

StateRewrite = Callable[[StoredEvent], bytes | None]
"""``(row) -> its new state bytes, or None to keep the row as it is``."""


def rewrite_states(recorder: POPOApplicationRecorder, topics: set[str],
                   rewrite: StateRewrite) -> int:
    """Call ``rewrite(row)`` on every stored row whose topic is in ``topics``, under
    the recorder's lock; where it answers new state bytes, the row's state becomes
    them (everything else about the row, its position included, stays). Answers how
    many rows were rewritten."""
    stored: list[StoredEvent] = recorder._stored_events
    rewritten = 0
    with recorder._database_lock:
        for index, row in enumerate(stored):
            if row.topic not in topics:
                continue
            state = rewrite(row)
            if state is not None:
                stored[index] = replace(row, state=state)
                rewritten += 1
    return rewritten
