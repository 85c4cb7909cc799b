"""The one visible table from command type to handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


class CommandBus:
    """Dispatches a command to its handler with the injected context."""

    def __init__(self, context: CommandContext) -> None:
        self.context = context

    def handle(self, command: object) -> Result:
        return COMMAND_HANDLERS[type(command)](command, self.context)
