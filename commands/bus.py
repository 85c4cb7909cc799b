"""The one visible table from command type to handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import IntegrityError

from commands import accounts, follows, interactions, moderation, posts, sessions
from commands.context import CommandContext
from commands.messages import (
    CreatePost,
    DeletePost,
    Follow,
    Login,
    Logout,
    RefreshSession,
    RegisterAccount,
    Result,
    SetBlock,
    SetLike,
    SetMute,
    SetRepost,
    Unfollow,
    UpdateProfile,
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
    Follow: follows.follow,
    Unfollow: follows.unfollow,
    SetLike: interactions.set_like,
    SetRepost: interactions.set_repost,
    SetBlock: moderation.set_block,
    SetMute: moderation.set_mute,
}


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

    def handle(self, command: object) -> Result:
        handler = COMMAND_HANDLERS[type(command)]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return handler(command, self.context)
            except IntegrityError:
                if attempt == MAX_ATTEMPTS:
                    raise Conflict("this changed concurrently; try again",
                                   code="concurrent_update") from None
        raise AssertionError("unreachable")
