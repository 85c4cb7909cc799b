"""Commands: plain data naming what a client asks for, in the imperative.

The naming rule: an action is a verb and its object (``RegisterAccount``,
``CreatePost``, ``DeletePost``, ``Login``); an on/off edge between two things
(follow, like, repost, block, mute) is ONE command ``Set<Edge>`` with ``active``
(``SetFollow(active=False)`` unfollows), whose handler brings the edge to that
state idempotently (``commands.edges.set_edge``). The events keep their
past-tense names per direction (``Followed``, ``Unfollowed``, ``Refollowed``):
they are stored and never renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ports.records import StoredImage


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated account a command acts for."""

    account_id: int
    username: str
    session_id: str


@dataclass(frozen=True, slots=True)
class RegisterAccount:
    username: str
    email: str
    password: str
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class UpdateProfile:
    """``changes`` holds only the fields the client sent; ``None`` clears one."""

    actor: Actor
    changes: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EraseAccount:
    """Erase ``username``'s personal data (crypto-shredding, then purging every
    projection). ``requested_by`` is who was authorized to ask, checked at the edge:
    ``operator`` (the CLI) or ``admin:<account id>`` (the admin route); it is
    recorded on the ``AccountErased`` event."""

    username: str
    requested_by: str


@dataclass(frozen=True, slots=True)
class Login:
    login: str
    password: str


@dataclass(frozen=True, slots=True)
class RefreshSession:
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Logout:
    actor: Actor


@dataclass(frozen=True, slots=True)
class CreatePost:
    """``language``: a BCP 47 tag the client says the text is in, or ``None``."""

    actor: Actor
    text: str
    reply_to_id: int | None = None
    quote_of_id: int | None = None
    language: str | None = None
    media_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class DeletePost:
    actor: Actor
    post_id: int


@dataclass(frozen=True, slots=True)
class UploadMedia:
    """Record an uploaded image whose variants are already in the media store.

    ``original`` and ``small``: each stored variant (``ports.records.StoredImage``)."""

    actor: Actor
    description: str
    blurhash: str
    original: StoredImage
    small: StoredImage


@dataclass(frozen=True, slots=True)
class DescribeMedia:
    """Set a medium's alt text (its owner only)."""

    actor: Actor
    media_id: int
    description: str


@dataclass(frozen=True, slots=True)
class SetFollow:
    """Follow (``active``) or unfollow the account called ``username``."""

    actor: Actor
    username: str
    active: bool


@dataclass(frozen=True, slots=True)
class SetLike:
    """Like (``active``) or unlike a post."""

    actor: Actor
    post_id: int
    active: bool


@dataclass(frozen=True, slots=True)
class SetRepost:
    actor: Actor
    post_id: int
    active: bool


@dataclass(frozen=True, slots=True)
class SetBlock:
    actor: Actor
    username: str
    active: bool


@dataclass(frozen=True, slots=True)
class SetMute:
    actor: Actor
    username: str
    active: bool


@dataclass(frozen=True, slots=True)
class UpdateNotificationPreferences:
    """``changes`` holds only the types the client sent: type -> ``everyone``,
    ``following`` or ``off``."""

    actor: Actor
    changes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarkNotificationsRead:
    """Mark read every group up to ``up_to_id`` (it and those below it in the list)
    and the groups ``ids``; ids naming no group of the actor change nothing."""

    actor: Actor
    up_to_id: int | None = None
    ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SetAdmin:
    """Give the admin role to an account (``active``) or take it away; run by an
    operator (``roost accounts grant-admin`` / ``revoke-admin``), not over HTTP.
    ``by`` says who did it (recorded in the event)."""

    username: str
    active: bool
    by: str


@dataclass(frozen=True, slots=True)
class SetSuspension:
    """Suspend an account (``active``) or lift its suspension; authorized at the edge:
    an operator (``roost accounts suspend`` / ``unsuspend``) or an admin token
    (``/api/admin/accounts/{username}/suspension``). ``reason``: the moderator's note
    (0-500 characters; ignored when lifting); ``by``: who did it (recorded in the
    event: ``cli:<login>`` or ``admin:<account id>``)."""

    username: str
    active: bool
    by: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Result:
    """What a handler answers: the position of the event that made the current
    state (0 if none did) and the data the client should see; ``replayed`` when
    it is the recorded answer of an earlier run with the same Idempotency-Key."""

    position: int
    data: Mapping[str, Any] = field(default_factory=dict)
    replayed: bool = False
