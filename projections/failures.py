"""Which failures are the infrastructure's (wait and retry) and which the event's (park).

A projector that fails because a store cannot be reached must not park the
event: the event is fine, and parking it would set a good event aside for an
operator (or fail as well). Such a failure is raised to the loop that feeds
the runner, which backs off and resumes from the recorded position. Any other
failure is the event's: it is retried a few times, then parked.

An adapter says its store is unavailable by raising
``ports.errors.DependencyUnavailable``; what its client library raises for a
server that is down or overloaded is told apart by a ``TransientCheck`` the
composition root hands the runner (``infra.failures.is_transient``), since
only ``infra`` knows the drivers.
"""

from __future__ import annotations

from collections.abc import Callable

from ports.errors import DependencyUnavailable

TransientCheck = Callable[[BaseException], bool]
"""``check(error)``: true when ``error`` says a dependency is unavailable, not that
the event is bad."""


class PositionBehind(DependencyUnavailable):
    """The projection's store holds a position below one its runner saw it reach (a
    reset, a rebuild in place or a wiped Redis in the meantime, by another process).

    The runner skips re-reading the position before each batch and names the position
    it last saw (``expected_position``); an apply that finds its store behind that
    raises this before writing anything. Not the events' fault, so nothing is parked:
    the runner forgets what it saw, re-reads the position and catches up from it.
    """


class UnknownEventType(Exception):
    """The event's type names no event class this code knows (parked at once)."""


def declared_unavailable(error: BaseException) -> bool:
    """True for ``DependencyUnavailable`` only: what every runner treats as transient,
    whatever else its ``TransientCheck`` adds."""
    return isinstance(error, DependencyUnavailable)
