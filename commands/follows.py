"""Handlers for following and unfollowing: an idempotent edge per pair."""

from __future__ import annotations

from commands.context import CommandContext
from commands.edges import ensure_not_blocked, other_account, relationship, set_edge
from commands.messages import Result, SetFollow
from domain.errors import AccountSuspended
from domain.follows import FollowEdge
from domain.ids import follow_uuid
from ports.records import Relationship


def set_follow(cmd: SetFollow, ctx: CommandContext) -> Result:
    """Follow (``active``) or unfollow; answers the ``Relationship`` after it. A
    suspended account cannot be followed (403 ``account_suspended``); it can be
    unfollowed."""
    follower_id, active = cmd.actor.account_id, cmd.active
    followee = other_account(ctx, follower_id, cmd.username, "follow")
    pair = {"follower_id": follower_id, "followee_id": followee.account_id}
    if active:
        if followee.suspended:
            raise AccountSuspended(f"{followee.username} is suspended")
        ensure_not_blocked(ctx, follower_id, followee.account_id)
    answer: Relationship = {**relationship(ctx, follower_id, followee.account_id),
                            "following": active}
    position = set_edge(
        ctx, follow_uuid(**pair), active,
        create=lambda: FollowEdge(**pair),
        turn_on=lambda edge: edge.refollow(**pair),
        turn_off=lambda edge: edge.unfollow(**pair),
        answer=answer,
    )
    return Result(position, answer)

