"""Handlers for blocking and muting."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from commands.context import CommandContext
from commands.edges import follow_edge_off, other_account, relationship, set_edge
from commands.messages import Result, SetBlock, SetMute
from domain.ids import block_uuid, mute_uuid
from domain.moderation import Block, Mute
from ports.records import Relationship


def set_block(cmd: SetBlock, ctx: CommandContext) -> Result:
    """Blocking also ends both follows, in the same transaction as the block."""
    me = cmd.actor.account_id
    other = other_account(ctx, me, cmd.username, "block").account_id
    pair = {"blocker_id": me, "blocked_id": other}

    def follows_ended() -> list[Aggregate]:
        ended = (follow_edge_off(ctx, me, other), follow_edge_off(ctx, other, me))
        return [edge for edge in ended if edge is not None]

    now = relationship(ctx, me, other)
    answer: Relationship = ({**now, "blocking": True, "following": False, "followed_by": False}
                            if cmd.active else {**now, "blocking": False})
    position = set_edge(
        ctx, block_uuid(me, other), cmd.active,
        create=lambda: Block(**pair),
        turn_on=lambda edge: edge.reblock(**pair),
        turn_off=lambda edge: edge.unblock(**pair),
        also_save=follows_ended if cmd.active else list,
        answer=answer,
    )
    return Result(position, answer)


def set_mute(cmd: SetMute, ctx: CommandContext) -> Result:
    me = cmd.actor.account_id
    other = other_account(ctx, me, cmd.username, "mute").account_id
    pair = {"muter_id": me, "muted_id": other}
    answer: Relationship = {**relationship(ctx, me, other), "muting": cmd.active}
    position = set_edge(
        ctx, mute_uuid(me, other), cmd.active,
        create=lambda: Mute(**pair),
        turn_on=lambda edge: edge.remute(**pair),
        turn_off=lambda edge: edge.unmute(**pair),
        answer=answer,
    )
    return Result(position, answer)
