"""Handlers for likes and reposts."""

from __future__ import annotations

from commands.context import CommandContext
from commands.edges import ensure_not_blocked, set_edge
from commands.messages import Result, SetLike, SetRepost
from domain.errors import NotFound
from domain.ids import like_uuid, post_uuid, repost_uuid
from domain.interactions import Like, Repost
from domain.posts import Post


def live_post(ctx: CommandContext, post_id: int) -> Post:
    post: Post | None = ctx.store.get_or_none(post_uuid(post_id))
    if post is None or post.deleted:
        raise NotFound("post not found", code="post_not_found")
    return post


def set_like(cmd: SetLike, ctx: CommandContext) -> Result:
    post = live_post(ctx, cmd.post_id)
    if cmd.active:
        ensure_not_blocked(ctx, cmd.actor.account_id, post.author_id)
    edge = {"account_id": cmd.actor.account_id, "post_id": post.post_id,
            "post_author_id": post.author_id}
    position = set_edge(
        ctx, like_uuid(cmd.actor.account_id, post.post_id), cmd.active,
        create=lambda: Like(**edge),
        turn_on=lambda like: like.relike(**edge),
        turn_off=lambda like: like.unlike(**edge),
    )
    return Result(position, {"post_id": post.post_id})


def set_repost(cmd: SetRepost, ctx: CommandContext) -> Result:
    post = live_post(ctx, cmd.post_id)
    if cmd.active:
        ensure_not_blocked(ctx, cmd.actor.account_id, post.author_id)
    edge_id = repost_uuid(cmd.actor.account_id, post.post_id)
    fresh_id = ctx.ids.next_id()
    edge = {"account_id": cmd.actor.account_id, "post_id": post.post_id,
            "post_author_id": post.author_id}
    position = set_edge(
        ctx, edge_id, cmd.active,
        create=lambda: Repost(**edge, repost_id=fresh_id),
        turn_on=lambda repost: repost.repost_again(**edge, repost_id=fresh_id),
        turn_off=lambda repost: repost.unrepost(**edge, repost_id=repost.repost_id),
    )
    return Result(position, {"post_id": post.post_id})
