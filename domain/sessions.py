"""Login sessions: a refresh token that rotates, and an end."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event


class Session(Aggregate):
    """One login. Only the hash of the current refresh secret is kept; refreshing
    replaces it, so a refresh token works once."""

    @event("SessionStarted")
    def __init__(self, account_id: int, username: str, refresh_hash: str) -> None:
        self.account_id = account_id
        self.username = username
        self.refresh_hash = refresh_hash
        self.ended = False

    @event("SessionRefreshed")
    def refresh(self, refresh_hash: str) -> None:
        self.refresh_hash = refresh_hash

    @event("SessionEnded")
    def end(self) -> None:
        self.ended = True
