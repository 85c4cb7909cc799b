"""The one visible table from command type to handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eventsourcing.persistence import IntegrityError

from commands import (
    accounts,
    admins,
    erasure,
    follows,
    interactions,
    media,
    moderation,
    notifications,
    posts,
    sessions,
    suspension,
)
from commands.context import CommandContext
from commands.idempotency import IdempotencyClaim, KeyedCommit, recorded_answer
from commands.messages import (
    CreatePost,
    DeletePost,
    DescribeMedia,
    EraseAccount,
    Login,
    Logout,
    MarkNotificationsRead,
    RefreshSession,
    RegisterAccount,
    Result,
    SetAdmin,
    SetBlock,
    SetFollow,
    SetLike,
    SetMute,
    SetRepost,
    SetSuspension,
    UpdateNotificationPreferences,
    UpdateProfile,
    UploadMedia,
)
from domain.errors import Conflict

Handler = Callable[[Any, CommandContext], Result]

COMMAND_HANDLERS: dict[type, Handler] = {
    RegisterAccount: accounts.register_account,
    UpdateProfile: accounts.update_profile,
    Login: sessions.login,
    RefreshSession: sessions.refresh_session,
    Logout: sessions.logout,
    CreatePost: posts.create_post,
    DeletePost: posts.delete_post,
    SetFollow: follows.set_follow,
    SetLike: interactions.set_like,
    SetRepost: interactions.set_repost,
    SetBlock: moderation.set_block,
    SetMute: moderation.set_mute,
    UpdateNotificationPreferences: notifications.update_notification_preferences,
    MarkNotificationsRead: notifications.mark_notifications_read,
    EraseAccount: erasure.erase_account,
    SetAdmin: admins.set_admin,
    SetSuspension: suspension.set_suspension,
    UploadMedia: media.upload_media,
    DescribeMedia: media.describe_media,
}


# Commands whose Idempotency-Key is recorded with their events. Sessions are
# not: their answers are secrets, which never go into the event store (a
# retried login after Redis lost the key opens a second session, no harm).
KEYED_COMMANDS = frozenset({RegisterAccount, UpdateProfile, CreatePost, DeletePost, SetFollow,
                            SetLike, SetRepost, SetBlock, SetMute,
                            UpdateNotificationPreferences, MarkNotificationsRead,
                            UploadMedia, DescribeMedia})

MAX_ATTEMPTS = 3


class CommandBus:
    """Dispatches a command to its handler with the injected context.

    Handlers load what they change and save it with optimistic concurrency; a
    concurrent writer of the same aggregate makes the save fail, and running
    the handler again on the fresh state resolves it (a second delete of a
    post then finds it gone). Only repeated clashes reach the client, as 409.
    """

    def __init__(self, context: CommandContext) -> None:
        self.context = context

    def handle(self, command: object, idempotency: IdempotencyClaim | None = None) -> Result:
        """Run ``command``; with ``idempotency``, at most once per key.

        Raises:
            RoostError: whatever the handler refuses with; ``Conflict``
                (``concurrent_update``) after repeated clashes;
                ``ValidationFailed`` (``idempotency_key_reused``).
        """
        handler = COMMAND_HANDLERS[type(command)]
        claim = idempotency if type(command) in KEYED_COMMANDS else None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                if claim is None:
                    return handler(command, self.context)
                return self._handle_keyed(handler, command, claim)
            except IntegrityError:  # a concurrent writer, or a run with the same key, won
                if attempt == MAX_ATTEMPTS:
                    raise Conflict("this changed concurrently; try again",
                                   code="concurrent_update") from None
        raise AssertionError("unreachable")

    def _handle_keyed(self, handler: Handler, command: object, claim: IdempotencyClaim
                      ) -> Result:
        recorded, expired = recorded_answer(self.context.store, claim)
        if recorded is not None:
            return recorded
        commit = KeyedCommit(self.context.store, claim, expired)
        result = handler(command, replace(self.context, keyed=commit))
        commit.record_alone(result)
        return result
