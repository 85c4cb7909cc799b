"""Accounts: who someone is on Roost, and the claims that keep names unique."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from eventsourcing.domain import Aggregate, event

from domain.ids import account_uuid, email_claim_uuid
from domain.text import is_blank, text_problem

USERNAME_PATTERN = r"^[A-Za-z0-9_]{1,30}$"
USERNAME = re.compile(USERNAME_PATTERN)
MAX_USERNAME = 30
RESERVED_USERNAMES = frozenset(
    {"me", "admin", "api", "root", "support", "help", "about", "settings", "login",
     "logout", "signup", "search", "explore", "home", "notifications", "health",
     "metrics", "docs", "static", "roost", "system", "null", "undefined"}
)
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
MAX_DISPLAY_NAME, MAX_BIO = 50, 500
MAX_AVATAR_URL = 2048
MAX_SUSPENSION_REASON = 500
ERASED_PREFIX = "erased-"
"""An erased account's username reads as this and 12 hex digits (the hyphen is not
in the username alphabet, so no real account is ever named so)."""


def is_erased_name(username: str) -> bool:
    """Whether ``username`` is an erased account's placeholder."""
    return username.startswith(ERASED_PREFIX)


class Account(Aggregate):
    """A registered account; its id is derived from the lower-cased username."""

    @staticmethod
    def create_id(username: str, **_: Any) -> UUID:
        return account_uuid(username)

    @event("AccountRegistered")
    def __init__(
        self, account_id: int, username: str, email: str, password_hash: str, display_name: str
    ) -> None:
        self.account_id = account_id
        self.username = username
        self.email = email
        self.password_hash = password_hash
        self.display_name = display_name
        self.bio = ""
        self.avatar_url = ""
        self.erased = False
        self.is_admin = False
        self.suspended = False
        self.suspension_reason = ""

    @event("ProfileUpdated")
    def update_profile(self, display_name: str, bio: str, avatar_url: str) -> None:
        self.display_name = display_name
        self.bio = bio
        self.avatar_url = avatar_url

    @event("PasswordRehashed")
    def rehash_password(self, password_hash: str) -> None:
        """Upgrade a hash made with weaker parameters (done at login)."""
        self.password_hash = password_hash

    @event("AdminGranted")
    def grant_admin(self, account_id: int, by: str) -> None:
        """The account may use the admin API (``/api/admin/...``) from now on.

        ``by`` says who granted it (``roost accounts grant-admin`` records the
        operator's login name on the machine). Neither field is a secret.
        """
        self.is_admin = True

    @event("AdminRevoked")
    def revoke_admin(self, account_id: int, by: str) -> None:
        """The admin role is taken away: its next admin request is ``403``."""
        self.is_admin = False

    @event("AccountSuspended")
    def suspend(self, account_id: int, reason: str, by: str) -> None:
        """A moderator suspended the account: it can neither sign in nor act, and
        nobody else sees it or its posts until it is unsuspended. ``reason`` is the
        moderator's note (0-500 characters, personal data: sealed with the account's
        key, so erasure removes it); ``by``: ``cli:<login>`` or ``admin:<account id>``."""
        self.suspended = True
        self.suspension_reason = reason

    @event("AccountUnsuspended")
    def unsuspend(self, account_id: int, by: str) -> None:
        """The suspension is lifted: the account may sign in again (its sessions ended
        by the suspension stay ended), and it and its posts are shown again."""
        self.suspended = False
        self.suspension_reason = ""

    @property
    def gone(self) -> bool:
        """Erased, or its personal data already unreadable (its key destroyed by an
        erasure that has not recorded ``AccountErased`` yet): nobody may act as it,
        find it or reach it."""
        return self.erased or is_erased_name(self.username)

    @event("AccountErased")
    def erase(self, account_id: int, erased_by: str) -> None:
        """The account's personal data was erased (its data key destroyed). The
        event carries none: ``account_id`` (the Snowflake) and ``erased_by`` (who
        asked: ``operator`` or ``admin:<account id>``)."""
        self.erased = True


class EmailClaim(Aggregate):
    """Reserves an email address for one account, case-insensitively; released when
    that account is erased (the address may then sign up again), and claimed again by
    the next account that signs up with it."""

    @staticmethod
    def create_id(email: str, **_: Any) -> UUID:
        return email_claim_uuid(email)

    @event("EmailClaimed")
    def __init__(self, email: str, account_id: int, username: str) -> None:
        self.email = email
        self.account_id = account_id
        self.username = username
        self.released = False

    @event("EmailReleased")
    def release(self) -> None:
        """Its account was erased: the address is free (no personal data in the event)."""
        self.released = True

    @event("EmailReclaimed")
    def reclaim(self, email: str, account_id: int, username: str) -> None:
        """A released address, claimed by a new account."""
        self.email = email
        self.account_id = account_id
        self.username = username
        self.released = False


def username_problem(username: str) -> str | None:
    if not USERNAME.fullmatch(username):
        return "must be 1-30 characters of letters A-Z, digits and underscore"
    if username.lower() in RESERVED_USERNAMES:
        return "is reserved"
    return None


def normalise_email(email: str) -> str:
    """The address as stored; raises ``ValueError`` with a reason if it is invalid."""
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None


def password_problem(password: str) -> str | None:
    """8-1,024 characters; no control characters, lone surrogates or noncharacters."""
    if problem := text_problem(password):
        return problem
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"
    return None


BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""The bidirectional embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO, LRI,
RLI, FSI, PDI): in a name shown inside other text an unclosed one reorders what
follows it ("Trojan Source", CVE-2021-42574) and spoofs another name. The marks
(U+200E, U+200F) stay allowed: they are what right-to-left names need."""


def display_name_problem(display_name: str) -> str | None:
    """Of normalised text (``normalise_text``): at most 50 characters on one line (no
    control characters at all), empty or with a visible character, no bidirectional
    embedding, override or isolate (``BIDI_OVERRIDES``)."""
    if problem := text_problem(display_name):
        return problem
    if len(display_name) > MAX_DISPLAY_NAME:
        return f"must be at most {MAX_DISPLAY_NAME} characters"
    if display_name and is_blank(display_name):
        return "must be empty or contain at least one visible character"
    if override := next((ch for ch in display_name if ch in BIDI_OVERRIDES), None):
        return f"must not contain bidirectional controls such as U+{ord(override):04X}"
    return None


def _multiline_problem(text: str, most: int) -> str | None:
    """At most ``most`` characters; newline and tab the only control characters allowed."""
    if problem := text_problem(text, multiline=True):
        return problem
    if len(text) > most:
        return f"must be at most {most} characters"
    return None


def bio_problem(bio: str) -> str | None:
    """At most 500 characters; newline and tab are the only control characters allowed."""
    return _multiline_problem(bio, MAX_BIO)


def suspension_reason_problem(reason: str) -> str | None:
    """As a bio: at most 500 characters, newline and tab allowed."""
    return _multiline_problem(reason, MAX_SUSPENSION_REASON)


def avatar_url_problem(url: str) -> str | None:
    """Empty (no avatar) or an absolute https URL with a host, at most 2,048 characters.

    Parsing never raises: a URL that ``urlsplit`` cannot read (``https://[``) is
    refused like any other bad value.
    """
    if not url:
        return None
    if len(url) > MAX_AVATAR_URL or text_problem(url) or any(ch.isspace() for ch in url):
        return "must be an https URL"
    try:
        parsed = urlsplit(url)
        host = parsed.hostname
        _ = parsed.port  # raises on a port that is not a number in range
    except ValueError:
        return "must be an https URL"
    if parsed.scheme != "https" or not host:
        return "must be an https URL"
    return None
