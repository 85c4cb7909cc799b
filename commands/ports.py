"""What command handlers need from the outside world, as small protocols."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...

    def verify_unknown(self, password: str) -> bool:
        """Take as long as ``verify`` against a real hash, for a login whose account
        does not exist (so a failed login takes as long either way); always False."""
        ...


class TokenIssuer(Protocol):
    def access_token(self, account_id: int, username: str, session_id: str) -> str: ...

    @property
    def access_ttl_s(self) -> int: ...

    @property
    def refresh_ttl_s(self) -> int: ...


class SessionRevocations(Protocol):
    """Makes an ended session's access tokens stop working at once, and a suspended
    account's (every authenticated request checks both, in one round trip)."""

    def revoke(self, session_id: str, ttl_s: int) -> None: ...

    def set_account_suspended(self, account_id: int, suspended: bool) -> None:
        """Mark the account suspended (kept until unmarked: no expiry), or unmark it.
        While marked, every access token of the account is refused (403
        ``account_suspended``); idempotent."""
        ...


class IdGenerator(Protocol):
    def next_id(self) -> int: ...
