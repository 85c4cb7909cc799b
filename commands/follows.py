"""Handlers for following and unfollowing: an idempotent edge per pair."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import IntegrityError

from commands.context import CommandContext
from commands.messages import Actor, Follow, Result, Unfollow
from domain.accounts import Account
from domain.errors import NotFound, ValidationFailed
from domain.follows import FollowEdge
from domain.ids import account_uuid, follow_uuid


def _target(ctx: CommandContext, actor: Actor, username: str) -> Account:
    account: Account | None = ctx.store.get_or_none(account_uuid(username))
    if account is None:
        raise NotFound(f"no account named {username!r}", code="account_not_found")
    if account.account_id == actor.account_id:
        raise ValidationFailed({"username": "you cannot follow yourself"},
                               code="cannot_follow_self")
    return account


def _relationship(ctx: CommandContext, actor: Actor, other: Account, following: bool
                  ) -> dict[str, Any]:
    reverse: FollowEdge | None = ctx.store.get_or_none(follow_uuid(other.account_id,
                                                                   actor.account_id))
    return {
        "following": following,
        "followed_by": bool(reverse and reverse.active),
        "blocking": False,
        "blocked_by": False,
        "muting": False,
    }


def _unchanged(ctx: CommandContext, edge: FollowEdge | None) -> int:
    return 0 if edge is None else ctx.store.position_of(edge.id, edge.version)


def follow(cmd: Follow, ctx: CommandContext) -> Result:
    followee = _target(ctx, cmd.actor, cmd.username)
    pair = {"follower_id": cmd.actor.account_id, "followee_id": followee.account_id}
    edge: FollowEdge | None = ctx.store.get_or_none(follow_uuid(**pair))
    if edge is not None and edge.active:
        position = _unchanged(ctx, edge)
    else:
        if edge is None:
            edge = FollowEdge(**pair)
        else:
            edge.refollow(**pair)
        try:
            position = ctx.store.save_all(edge)
        except IntegrityError:  # a concurrent follow of the same pair won; converge
            edge = ctx.store.get_or_none(follow_uuid(**pair))
            if edge is None or not edge.active:
                raise
            position = _unchanged(ctx, edge)
    return Result(position, _relationship(ctx, cmd.actor, followee, True))


def unfollow(cmd: Unfollow, ctx: CommandContext) -> Result:
    followee = _target(ctx, cmd.actor, cmd.username)
    pair = {"follower_id": cmd.actor.account_id, "followee_id": followee.account_id}
    edge: FollowEdge | None = ctx.store.get_or_none(follow_uuid(**pair))
    if edge is None or not edge.active:
        position = _unchanged(ctx, edge)
    else:
        edge.unfollow(**pair)
        try:
            position = ctx.store.save_all(edge)
        except IntegrityError:
            edge = ctx.store.get_or_none(follow_uuid(**pair))
            if edge is None or edge.active:
                raise
            position = _unchanged(ctx, edge)
    return Result(position, _relationship(ctx, cmd.actor, followee, False))
