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


class UnknownEventType(Exception):
    """The event's type names no event class this code knows (parked at once)."""


def declared_unavailable(error: BaseException) -> bool:
    """True for ``DependencyUnavailable`` only: what every runner treats as transient,
    whatever else its ``TransientCheck`` adds."""
    return isinstance(error, DependencyUnavailable)
