"""Login sessions: a refresh token that rotates, and an end."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event


class Session(Aggregate):
    """One login. The hash of the current refresh secret opens it; refreshing
    replaces that hash and keeps the old one in ``rotated_hashes``, so a
    refresh token works once and a rotated-out one presented again is
    recognised as reuse (a sign of theft), not as garbage."""

    @event("SessionStarted")
    def __init__(self, account_id: int, username: str, refresh_hash: str) -> None:
        self.account_id = account_id
        self.username = username
        self.refresh_hash = refresh_hash
        self.rotated_hashes: frozenset[str] = frozenset()
        self.ended = False

    @event("SessionRefreshed")
    def refresh(self, refresh_hash: str) -> None:
        self.rotated_hashes = self.rotated_hashes | {self.refresh_hash}
        self.refresh_hash = refresh_hash

    @event("SessionEnded")
    def end(self) -> None:
        self.ended = True

    def was_rotated_out(self, refresh_hash: str) -> bool:
        """Whether ``refresh_hash`` opened this session once and was rotated out since."""
        return refresh_hash in self.rotated_hashes
