"""Handlers for media: recording an upload, describing it (alt text).

The bytes are stored by the HTTP layer before ``UploadMedia`` runs (content-addressed
keys, ``ports.media_store``); the handler records only what the store holds.
Attaching is part of ``CreatePost`` (``commands.posts``, ``attachable_media``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from commands.context import CommandContext
from commands.messages import DescribeMedia, Result, UploadMedia
from commands.views import media_view
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.ids import media_uuid, post_uuid
from domain.media import MAX_MEDIA_PER_POST, Media, description_problem
from domain.posts import Post
from domain.text import normalise_text


def _description(text: str) -> str:
    description = normalise_text(text)
    if problem := description_problem(description):
        raise ValidationFailed({"description": problem})
    return description


def upload_media(cmd: UploadMedia, ctx: CommandContext) -> Result:
    """A new medium of the actor, unattached."""
    media = Media(media_id=ctx.ids.next_id(), owner_id=cmd.actor.account_id,
                  owner_username=cmd.actor.username, description=_description(cmd.description),
                  blurhash=cmd.blurhash, original=dict(cmd.original), small=dict(cmd.small))
    answer = media_view(media)
    return Result(ctx.commit(media, answer=answer), answer)


def live_media(ctx: CommandContext, media_id: int) -> Media | None:
    """The medium, unless it does not exist, expired unattached or its owner was
    erased (``Media.gone``)."""
    media: Media | None = ctx.store.get_or_none(media_uuid(media_id))
    if media is None or media.gone(datetime.now(UTC)):
        return None
    return media


def describe_media(cmd: DescribeMedia, ctx: CommandContext) -> Result:
    """Only the owner may describe a medium, attached or not; a medium of a deleted
    post is served to nobody, so it is ``404`` here too (as ``GET``)."""
    media = live_media(ctx, cmd.media_id)
    if media is None or _post_deleted(ctx, media):
        raise NotFound("medium not found", code="media_not_found")
    if media.owner_id != cmd.actor.account_id:
        raise Forbidden("only the owner may describe a medium", code="not_owner")
    description = _description(cmd.description)
    if description != media.description:
        media.describe(media_id=media.media_id, owner_username=media.owner_username,
                       description=description)
    answer = media_view(media)
    # Nothing new to say: the answer is the position of the event that made this state.
    position = ctx.commit(media, answer=answer) or ctx.store.position_of(media.id,
                                                                         media.version)
    return Result(position, answer)


def _post_deleted(ctx: CommandContext, media: Media) -> bool:
    if media.post_id is None:
        return False
    post: Post | None = ctx.store.get_or_none(post_uuid(media.post_id))
    return post is None or post.gone


def attachable_media(ctx: CommandContext, owner_id: int, media_ids: tuple[int, ...]
                     ) -> list[Media]:
    """The media ``media_ids`` name, in order, if each is a live, unattached medium of
    ``owner_id`` and none is named twice.

    Raises:
        ValidationFailed: ``media_ids`` (``media_not_attachable``) otherwise.
    """
    if len(media_ids) > MAX_MEDIA_PER_POST:
        raise ValidationFailed({"media_ids": f"at most {MAX_MEDIA_PER_POST} media"})
    if len(set(media_ids)) != len(media_ids):
        raise ValidationFailed({"media_ids": "names a medium twice"})
    found = []
    for media_id in media_ids:
        media = live_media(ctx, media_id)
        if media is None or media.owner_id != owner_id or media.post_id is not None:
            raise ValidationFailed(
                {"media_ids": f"{media_id} is no unattached medium of yours"},
                code="media_not_attachable")
        found.append(media)
    return found
