"""Notifications: who is notified of what, how notifications group, what an undo
takes away. The storage is a port (``ports.notifications``); this module holds
no SQL and no Redis command.

Rules (API.md, "Notifications and streaming"):

* ``like`` and ``repost`` notify the post's author, ``follow`` the followed
  account; a post notifies the author of the post it replies to (``reply``),
  the author of the post it quotes (``quote``) and each account it mentions
  (``mention``). One post notifies one account once, as the first of reply,
  quote, mention that applies.
* Nobody is notified of their own action, nor by an account in a block with
  them (either way) or that they mute, nor against their preference for the
  type (``off``; ``following``: only by accounts they follow). All of it is
  decided with the state at the event's position, which the projection keeps
  from the same stream (posts' authors, usernames, follows, blocks, mutes,
  preferences), so it never races another projection and a rebuild decides
  the same.
* Likes, reposts and follows of one target join the target's newest group while
  that group is less than ``WINDOW`` (12 hours) old; otherwise they start a
  new one. Replies, mentions and quotes are never grouped. Joining a group
  writes one member and updates the group's count: O(1) however large it is.
* An undo (unlike, unrepost, unfollow) takes its account out of the group, and
  an emptied group goes; a deleted post takes every group about it. An erased
  account (``AccountErased``) leaves every group, its posts' groups and its own
  go, and its username is forgotten. A block or
  mute takes the blocked or muted account out of the blocker's (and, for a
  block, the other way round) groups, so counts stay exact; readers check again.
* A read mark (``NotificationsMarkedRead``) marks groups read in log order; a
  group that gains an account becomes unread again.
* Each recipient keeps at most ``max_groups`` groups: the oldest go.

Each group created or joined while applying live (``apply``/``apply_batch``) is
announced as a ``LiveEvent`` to its recipient, before the batch commits (so a
failed batch announces again on its retry, under the same ids, which the
publisher drops). ``replay`` (parked events) announces nothing, nor does a
projector built without a publisher (a rebuild).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from domain.notifications import GROUPED_TYPES, NOTIFICATION_TYPES
from ports.events import EventEnvelope
from ports.live import NOTIFICATIONS_CHANNEL, LiveEvent, LiveEventPublisher
from ports.notifications import EdgeKind, NotificationStore, NotificationWrites
from ports.projectors import NOTIFICATIONS
from projections.base import StoreProjector, after

WINDOW: Final = timedelta(hours=12)
"""How long after its first member a group of likes, reposts or follows takes more."""
DEFAULT_MAX_GROUPS: Final = 1000


@dataclass
class Announcements:
    """The live events one batch makes: one per group created or joined."""

    events: list[LiveEvent] = field(default_factory=list)
    _seq: dict[tuple[int, int], int] = field(default_factory=dict)

    def group_changed(self, recipient: int, position: int, group_id: int) -> None:
        seq = self._seq.get((recipient, position), 0)
        self._seq[(recipient, position)] = seq + 1
        self.events.append(LiveEvent(
            account_id=recipient, channel=NOTIFICATIONS_CHANNEL, position=position, seq=seq,
            event="notification", data={"id": str(group_id)}))


def _at(event: EventEnvelope) -> datetime:
    """When the event happened (``ValueError`` for an envelope without a time)."""
    return datetime.fromisoformat(event.occurred_at)


@dataclass(frozen=True, slots=True)
class Cause:
    """What one notification is about: ``target`` keys the member (the post liked,
    the account followed, the post replying); ``post_id`` is the post shown."""

    recipient: int
    kind: str
    actor: int
    target: int
    post_id: int | None


class NotificationProjector(StoreProjector[NotificationStore]):
    name = NOTIFICATIONS

    def __init__(self, store: NotificationStore, live: LiveEventPublisher | None = None,
                 max_groups: int = DEFAULT_MAX_GROUPS) -> None:
        self.store = store
        self.live = live
        self.max_groups = max_groups

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        """Apply the events after the position, with the new position, in one
        transaction; announce the groups made or joined before it commits."""
        async with self.store.writes() as tx:
            position = await tx.position()
            fresh = after(position, events, expected_position)
            if not fresh:
                return
            announced = Announcements()
            for event in fresh:
                await self._apply(tx, event, announced)
            await tx.set_position(fresh[-1].position)
            if self.live is not None and announced.events:
                await self.live.publish(announced.events)

    async def replay(self, event: EventEnvelope) -> None:
        """A parked event's writes, without the position and without announcing."""
        async with self.store.writes() as tx:
            await self._apply(tx, event, Announcements())

    async def advance(self, position: int) -> None:
        await self.store.advance(position)

    async def after_rebuild(self) -> None:
        await self.store.after_rebuild()

    async def _apply(self, tx: NotificationWrites, event: EventEnvelope,
                     announced: Announcements) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            await handler(self, tx, event, announced)

    # -- who is notified --------------------------------------------------

    async def _notify(self, tx: NotificationWrites, event: EventEnvelope, cause: Cause,
                      announced: Announcements) -> None:
        if cause.recipient == cause.actor or not await self._wanted(tx, cause):
            return
        at = _at(event)
        if cause.kind in GROUPED_TYPES:
            open_group = await tx.open_group(cause.recipient, cause.kind, cause.target)
            if open_group is not None and at < open_group.first_at + WINDOW:
                if await tx.add_member(cause.recipient, open_group.group_id, cause.kind,
                                       cause.target, cause.actor, at, event.position):
                    announced.group_changed(cause.recipient, event.position,
                                            open_group.group_id)
                return
        if await tx.create_group(cause.recipient, event.position, cause.kind, cause.target,
                                 cause.post_id, cause.actor, at, event.position):
            await tx.trim(cause.recipient, self.max_groups)
            announced.group_changed(cause.recipient, event.position, event.position)

    async def _wanted(self, tx: NotificationWrites, cause: Cause) -> bool:
        """Whether the recipient's preference and relation to the actor allow it."""
        preference = (await tx.preferences(cause.recipient))[cause.kind]
        if preference == "off":
            return False
        relation = await tx.relation(cause.recipient, cause.actor)
        if relation.blocked or relation.muted:
            return False
        return preference != "following" or relation.following

    async def _post_created(self, tx: NotificationWrites, e: EventEnvelope,
                            announced: Announcements) -> None:
        p = e.payload
        post_id, author = int(p["post_id"]), int(p["author_id"])
        await tx.remember_post(post_id, author)
        recipients: dict[int, str] = {}  # first kind wins: reply, quote, mention
        for kind, parent in (("reply", p["reply_to_id"]), ("quote", p["quote_of_id"])):
            parent_author = None if parent is None else await tx.post_author(int(parent))
            if parent_author is not None:
                recipients.setdefault(parent_author, kind)
        mentioned = [str(name) for name in p["mentions"]]
        if mentioned:
            for account_id in (await tx.account_ids(mentioned)).values():
                recipients.setdefault(account_id, "mention")
        for recipient, kind in recipients.items():
            await self._notify(tx, e, Cause(recipient, kind, author, post_id, post_id),
                               announced)

    async def _post_deleted(self, tx: NotificationWrites, e: EventEnvelope,
                            _announced: Announcements) -> None:
        await tx.forget_post(int(e.payload["post_id"]), int(e.payload["author_id"]))
        await tx.remove_post(int(e.payload["post_id"]))

    async def _account_erased(self, tx: NotificationWrites, e: EventEnvelope,
                              _announced: Announcements) -> None:
        await tx.erase_account(int(e.payload["account_id"]))

    async def _interaction(self, tx: NotificationWrites, e: EventEnvelope,
                           announced: Announcements) -> None:
        """Liked, Reliked, Reposted, Rereposted and their undos."""
        p = e.payload
        kind = "like" if e.type in ("Liked", "Reliked", "Unliked") else "repost"
        post_id = int(p["post_id"])
        cause = Cause(int(p["post_author_id"]), kind, int(p["account_id"]), post_id, post_id)
        if e.type in ("Unliked", "Unreposted"):
            await tx.remove_member(cause.recipient, kind, post_id, cause.actor)
        else:
            await self._notify(tx, e, cause, announced)

    async def _follow(self, tx: NotificationWrites, e: EventEnvelope,
                      announced: Announcements) -> None:
        follower, followee = int(e.payload["follower_id"]), int(e.payload["followee_id"])
        active = e.type != "Unfollowed"
        await tx.set_edge("follow", follower, followee, active, e.aggregate_version)
        if active:
            await self._notify(tx, e, Cause(followee, "follow", follower, followee, None),
                               announced)
        else:
            await tx.remove_member(followee, "follow", followee, follower)

    async def _moderation(self, tx: NotificationWrites, e: EventEnvelope,
                          _announced: Announcements) -> None:
        """Blocks and mutes: remembered, and the hidden account's members removed."""
        kind: EdgeKind = "block" if e.type in _BLOCK_EVENTS else "mute"
        ends = ("blocker_id", "blocked_id") if kind == "block" else ("muter_id", "muted_id")
        a, b = int(e.payload[ends[0]]), int(e.payload[ends[1]])
        active = e.type not in ("Unblocked", "Unmuted")
        await tx.set_edge(kind, a, b, active, e.aggregate_version)
        if active:
            await tx.remove_account(a, b)
            if kind == "block":
                await tx.remove_account(b, a)

    async def _account_registered(self, tx: NotificationWrites, e: EventEnvelope,
                                  _announced: Announcements) -> None:
        await tx.remember_account(int(e.payload["account_id"]), str(e.payload["username"]))

    async def _preferences(self, tx: NotificationWrites, e: EventEnvelope,
                           _announced: Announcements) -> None:
        preferences: dict[str, str] = {kind: str(e.payload[kind]) for kind in NOTIFICATION_TYPES}
        await tx.set_preferences(int(e.payload["account_id"]), preferences,
                                 e.aggregate_version)

    async def _marked_read(self, tx: NotificationWrites, e: EventEnvelope,
                           _announced: Announcements) -> None:
        p = e.payload
        up_to = None if p["up_to_id"] is None else int(p["up_to_id"])
        await tx.mark_read(int(p["account_id"]), up_to, [int(i) for i in p["ids"]])


_BLOCK_EVENTS = frozenset({"Blocked", "Reblocked", "Unblocked"})
Handler = Callable[[NotificationProjector, NotificationWrites, EventEnvelope, Announcements],
                   Awaitable[None]]
_HANDLERS: dict[str, Handler] = {
    "AccountRegistered": NotificationProjector._account_registered,
    "PostCreated": NotificationProjector._post_created,
    "PostDeleted": NotificationProjector._post_deleted,
    "AccountErased": NotificationProjector._account_erased,
    **dict.fromkeys(("Liked", "Reliked", "Unliked", "Reposted", "Rereposted", "Unreposted"),
                    NotificationProjector._interaction),
    **dict.fromkeys(("Followed", "Refollowed", "Unfollowed"), NotificationProjector._follow),
    **dict.fromkeys(("Blocked", "Reblocked", "Unblocked", "Muted", "Remuted", "Unmuted"),
                    NotificationProjector._moderation),
    **dict.fromkeys(("NotificationPreferencesCreated", "NotificationPreferencesUpdated"),
                    NotificationProjector._preferences),
    "NotificationsMarkedRead": NotificationProjector._marked_read,
}
"""Event type -> what it does here; every other event only moves the position."""

