"""``infra.popo_rows`` still fits eventsourcing's in-memory recorder.

It reaches into the POPO recorder's private list of stored events (erasure's
rewrite of the in-memory store); these tests fail when eventsourcing changes
under it, so an upgrade cannot silently make the in-memory store's erasure a
no-op or corrupt its positions.
"""

from __future__ import annotations

import threading
from importlib.metadata import version
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from infra import popo_rows

RECHECK = ("eventsourcing changed under infra/popo_rows.py: re-check the POPO recorder's "
           "_stored_events and _database_lock, then update WRITTEN_FOR_EVENTSOURCING")


def recorder_with(*topics: str) -> POPOApplicationRecorder:
    recorder = POPOApplicationRecorder()
    recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1,
                                        topic=topic, state=f"{topic}-{n}".encode())
                            for n, topic in enumerate(topics)])
    return recorder


def test_written_for_the_installed_version() -> None:
    assert version("eventsourcing") == popo_rows.WRITTEN_FOR_EVENTSOURCING, RECHECK


def test_the_internals_it_uses_are_there() -> None:
    recorder = recorder_with("a", "b")
    assert isinstance(recorder._stored_events, list), RECHECK
    assert isinstance(recorder._database_lock, type(threading.RLock())), RECHECK


def test_a_rewrite_changes_only_the_chosen_rows_states_and_keeps_positions() -> None:
    recorder = recorder_with("keep", "scrub", "scrub", "keep")
    before = recorder.select_notifications(None, 10)
    seen: list[bytes] = []

    def rewrite(row: StoredEvent) -> bytes | None:
        seen.append(row.state)
        return b"erased" if row.state == b"scrub-1" else None

    assert popo_rows.rewrite_states(recorder, {"scrub"}, rewrite) == 1
    assert seen == [b"scrub-1", b"scrub-2"]  # only rows of the topics asked for
    after = recorder.select_notifications(None, 10)
    assert [n.id for n in after] == [n.id for n in before]
    assert [n.state for n in after] == [b"keep-0", b"erased", b"scrub-2", b"keep-3"]
    # the aggregate's own read sees it too
    assert recorder.select_events(after[1].originator_id)[0].state == b"erased"
