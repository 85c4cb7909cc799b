"""Handlers for creating and deleting posts."""

from __future__ import annotations

from commands.context import CommandContext
from commands.edges import author_suspended, ensure_not_blocked
from commands.media import attachable_media
from commands.messages import CreatePost, DeletePost, Result
from commands.views import post_view
from domain.accounts import Account
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.ids import account_uuid, post_uuid
from domain.posts import Post, UnknownLanguage, language_tag
from domain.text import (
    extract_hashtags,
    extract_mentions,
    is_blank,
    normalise_text,
    post_text_problem,
    text_problem,
)

MAX_MENTIONS_CHECKED = 50


def _existing_post(ctx: CommandContext, post_id: int | None) -> Post | None:
    """The post replied to or quoted: ``None`` when there is none to refer to (never
    made, deleted, or by a suspended account, whose posts nobody sees)."""
    if post_id is None:
        return None
    post: Post | None = ctx.store.get_or_none(post_uuid(post_id))
    if post is None or post.gone or author_suspended(ctx, post):
        return None
    return post


def _mentioned_usernames(ctx: CommandContext, text: str) -> list[str]:
    """Mentioned accounts that exist, as they signed up (``@ALICE`` → ``alice``)."""
    usernames = []
    for candidate in extract_mentions(text)[:MAX_MENTIONS_CHECKED]:
        account: Account | None = ctx.store.get_or_none(account_uuid(candidate))
        if account is not None:
            usernames.append(account.username)
    return usernames


def create_post(cmd: CreatePost, ctx: CommandContext) -> Result:
    """A post of 1-280 characters, or 0-280 with media (``media_ids``, attached here
    in the same transaction: a medium two posts race for goes to one of them)."""
    text = normalise_text(cmd.text)
    if cmd.media_ids and is_blank(text) and text_problem(text, multiline=True) is None:
        text = ""  # media with text that shows nothing: no text
    problems: dict[str, str] = {}
    if (problem := post_text_problem(text)) and not (cmd.media_ids and text == ""):
        problems["text"] = problem
    targets = {"reply_to_id": cmd.reply_to_id, "quote_of_id": cmd.quote_of_id}
    referenced = {field: _existing_post(ctx, post_id) for field, post_id in targets.items()}
    missing = {field: "refers to a post that does not exist or was deleted"
               for field, post_id in targets.items()
               if post_id is not None and referenced[field] is None}
    language = None
    if cmd.language is not None:
        try:
            language = language_tag(cmd.language)
        except UnknownLanguage as error:  # well formed, naming nothing: like a missing post
            missing["language"] = str(error)
        except ValueError as error:
            problems["language"] = str(error)
    if problems:
        raise ValidationFailed({**problems, **missing})
    if missing:  # well-formed, but naming nothing: its own code, for clients and fuzzers
        raise ValidationFailed(missing, code="reference_not_found")
    for target in referenced.values():
        if target is not None:
            ensure_not_blocked(ctx, cmd.actor.account_id, target.author_id)
    media = attachable_media(ctx, cmd.actor.account_id, cmd.media_ids)
    post = Post(
        post_id=ctx.ids.next_id(),
        author_id=cmd.actor.account_id,
        author_username=cmd.actor.username,
        text=text,
        mentions=_mentioned_usernames(ctx, text),
        hashtags=extract_hashtags(text),
        reply_to_id=cmd.reply_to_id,
        quote_of_id=cmd.quote_of_id,
        language=language,
        media_ids=list(cmd.media_ids),
    )
    for medium in media:
        medium.attach(media_id=medium.media_id, post_id=post.post_id, owner_id=post.author_id)
    answer = post_view(post, media)
    return Result(ctx.commit(post, *media, answer=answer), answer)


def delete_post(cmd: DeletePost, ctx: CommandContext) -> Result:
    """Only the author may delete; a deleted post is gone (404) for everyone."""
    post = _existing_post(ctx, cmd.post_id)
    if post is None:
        raise NotFound("post not found", code="post_not_found")
    if post.author_id != cmd.actor.account_id:
        raise Forbidden("only the author may delete a post", code="not_author")
    post.delete(post_id=post.post_id, author_id=post.author_id)
    return Result(ctx.commit(post, answer={}))
