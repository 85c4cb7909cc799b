"""Idempotent on/off edges (follow, like, repost, block, mute) and the rules between accounts.

Every edge is an aggregate whose id is derived from its two ends. Turning an
edge on that is already on appends nothing and answers the position of the
event that made the current state; a concurrent writer of the same edge
loses in the event store and converges to the winner's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from commands.context import CommandContext
from domain.accounts import Account
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.follows import FollowEdge
from domain.ids import account_uuid, block_uuid, follow_uuid, mute_uuid
from domain.moderation import Block, Mute
from domain.posts import Post
from ports.records import Relationship
from ports.records import relationship as relationship_record

E = TypeVar("E", bound=Aggregate)


def set_edge(
    ctx: CommandContext,
    edge_id: UUID,
    active: bool,
    create: Callable[[], E],
    turn_on: Callable[[E], None],
    turn_off: Callable[[E], None],
    also_save: Callable[[], list[Aggregate]] = list,
    *,
    answer: Mapping[str, Any],
) -> int:
    """Bring the edge to ``active``; the position of the event that made that state.

    ``answer`` is what the command will answer (recorded with an Idempotency-Key).
    """
    edge: Any = ctx.store.get_or_none(edge_id)
    current = bool(edge is not None and edge.active)
    if current == active:
        return 0 if edge is None else ctx.store.position_of(edge.id, edge.version)
    if edge is None:
        edge = create()
    elif active:
        turn_on(edge)
    else:
        turn_off(edge)
    try:
        return ctx.commit(edge, *also_save(), answer=answer)
    except IntegrityError:  # a concurrent writer of the same edge won
        winner: Any = ctx.store.get_or_none(edge_id)
        if winner is None or bool(winner.active) != active:
            raise
        return ctx.store.position_of(winner.id, winner.version)


def account_named(ctx: CommandContext, username: str) -> Account:
    account: Account | None = ctx.store.get_or_none(account_uuid(username))
    if account is None or account.gone:
        raise NotFound(f"no account named {username!r}", code="account_not_found")
    return account


def other_account(ctx: CommandContext, actor_id: int, username: str, verb: str) -> Account:
    """The account named ``username``, which must not be the actor."""
    account = account_named(ctx, username)
    if account.account_id == actor_id:
        raise ValidationFailed({"username": f"you cannot {verb} yourself"},
                               code=f"cannot_{verb}_self")
    return account


def edge_active(ctx: CommandContext, edge_id: UUID) -> bool:
    edge: Any = ctx.store.get_or_none(edge_id)
    return bool(edge is not None and edge.active)


def author_suspended(ctx: CommandContext, post: Post) -> bool:
    """Whether ``post``'s author is suspended (then nobody may like, repost, reply to
    or quote it, as if it were deleted, until the suspension is lifted)."""
    author: Account | None = ctx.store.get_or_none(account_uuid(post.author_username))
    return author is not None and author.suspended


def ensure_not_blocked(ctx: CommandContext, a: int, b: int) -> None:
    """Refuse an interaction between two accounts when either blocks the other."""
    if a != b and (edge_active(ctx, block_uuid(a, b)) or edge_active(ctx, block_uuid(b, a))):
        raise Forbidden("this account is blocked, or has blocked you", code="blocked")


def relationship(ctx: CommandContext, actor_id: int, other_id: int) -> Relationship:
    """The relationship as the event store has it right now (strongly consistent)."""
    return relationship_record(
        following=edge_active(ctx, follow_uuid(actor_id, other_id)),
        followed_by=edge_active(ctx, follow_uuid(other_id, actor_id)),
        blocking=edge_active(ctx, block_uuid(actor_id, other_id)),
        blocked_by=edge_active(ctx, block_uuid(other_id, actor_id)),
        muting=edge_active(ctx, mute_uuid(actor_id, other_id)),
    )


def follow_edge_off(ctx: CommandContext, follower_id: int, followee_id: int
                    ) -> FollowEdge | None:
    """The follow edge, turned off (unsaved), if it is on; for blocks."""
    edge: FollowEdge | None = ctx.store.get_or_none(follow_uuid(follower_id, followee_id))
    if edge is None or not edge.active:
        return None
    edge.unfollow(follower_id=follower_id, followee_id=followee_id)
    return edge


__all__ = ["Block", "Mute", "account_named", "edge_active", "ensure_not_blocked",
           "follow_edge_off", "other_account", "relationship", "set_edge"]
