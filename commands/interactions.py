"""Handlers for likes and reposts.

Their answer is built from what the handler loaded and appended -- the post,
its author, whether the actor may still see it -- never from a read model, so
an interaction that was recorded is never answered as a failure.
"""

from __future__ import annotations

from typing import Any, Literal

from commands.context import CommandContext
from commands.edges import author_suspended, edge_active, ensure_not_blocked, set_edge
from commands.messages import Result, SetLike, SetRepost
from commands.views import InteractionView, post_view, profile_view
from domain.accounts import Account
from domain.errors import NotFound
from domain.ids import account_uuid, block_uuid, like_uuid, media_uuid, post_uuid, repost_uuid
from domain.interactions import Like, Repost
from domain.posts import Post


def _post_not_found() -> NotFound:
    return NotFound("post not found", code="post_not_found")


def target_post(ctx: CommandContext, post_id: int, active: bool, edge_id: Any) -> Post:
    """The post to (un)like or (un)repost.

    Turning an edge on needs a live post whose author is not suspended (nobody sees
    a suspended account's posts). Undoing one's own like or repost always succeeds
    while the edge exists, even on a deleted post.

    Raises:
        NotFound: ``post_not_found`` -- no such post, or deleted and nothing to undo,
            or by a suspended account and turning the edge on.
    """
    post: Post | None = ctx.store.get_or_none(post_uuid(post_id))
    if post is None:
        raise _post_not_found()
    if post.gone and (active or not ctx.store.exists(edge_id)):
        raise _post_not_found()
    if active and author_suspended(ctx, post):
        raise _post_not_found()
    return post


def _answer(ctx: CommandContext, actor_id: int, post: Post,
            flag: Literal["liked", "reposted"], value: bool) -> InteractionView:
    """What a like or repost answers: the post as the event store has it.

    ``visible`` says whether the actor may still see the post (not deleted,
    no block either way); ``author`` is the author's account without counts.
    """
    author: Account | None = ctx.store.get_or_none(account_uuid(post.author_username))
    blocked = actor_id != post.author_id and (
        edge_active(ctx, block_uuid(actor_id, post.author_id))
        or edge_active(ctx, block_uuid(post.author_id, actor_id)))
    reply_to_available = None
    if post.reply_to_id is not None:
        parent: Post | None = ctx.store.get_or_none(post_uuid(post.reply_to_id))
        reply_to_available = parent is not None and not parent.deleted
    return InteractionView(
        post_id=post.post_id,
        post=post_view(post, [m for i in post.media_ids
                              if (m := ctx.store.get_or_none(media_uuid(i))) is not None]),
        author=None if author is None else profile_view(author),
        reply_to_available=reply_to_available,
        visible=not post.deleted and not blocked and author is not None,
        flag=flag,
        value=value,
    )


def set_like(cmd: SetLike, ctx: CommandContext) -> Result:
    edge_id = like_uuid(cmd.actor.account_id, cmd.post_id)
    post = target_post(ctx, cmd.post_id, cmd.active, edge_id)
    if cmd.active:
        ensure_not_blocked(ctx, cmd.actor.account_id, post.author_id)
    edge = {"account_id": cmd.actor.account_id, "post_id": post.post_id,
            "post_author_id": post.author_id}
    answer = _answer(ctx, cmd.actor.account_id, post, "liked", cmd.active)
    position = set_edge(
        ctx, edge_id, cmd.active,
        create=lambda: Like(**edge),
        turn_on=lambda like: like.relike(**edge),
        turn_off=lambda like: like.unlike(**edge),
        answer=answer,
    )
    return Result(position, answer)


def set_repost(cmd: SetRepost, ctx: CommandContext) -> Result:
    edge_id = repost_uuid(cmd.actor.account_id, cmd.post_id)
    post = target_post(ctx, cmd.post_id, cmd.active, edge_id)
    if cmd.active:
        ensure_not_blocked(ctx, cmd.actor.account_id, post.author_id)
    fresh_id = ctx.ids.next_id()
    edge = {"account_id": cmd.actor.account_id, "post_id": post.post_id,
            "post_author_id": post.author_id}
    answer = _answer(ctx, cmd.actor.account_id, post, "reposted", cmd.active)
    position = set_edge(
        ctx, edge_id, cmd.active,
        create=lambda: Repost(**edge, repost_id=fresh_id),
        turn_on=lambda repost: repost.repost_again(**edge, repost_id=fresh_id),
        turn_off=lambda repost: repost.unrepost(**edge, repost_id=repost.repost_id),
        answer=answer,
    )
    return Result(position, answer)
