"""What a write answers, built from the command's own result.

A command that appended its events has succeeded, whatever the read models
say: they may lag behind (the worker stopped) or be unreachable. So a write's
answer starts from what the handler loaded and appended, and the read models
only refine it -- counts, the author's counts -- when they answer in time.
Nothing here turns a recorded write into a 4xx or 5xx.
"""

from __future__ import annotations

from typing import cast

import structlog
from fastapi import Response
from fastapi.concurrency import run_in_threadpool
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from commands.messages import Actor, Result
from commands.views import InteractionView, PostView, own_profile_view
from domain.errors import NotFound, RoostError
from domain.ids import account_uuid
from infra.http.deps import wait_until_applied
from infra.http.services import ApiServices
from ports.projectors import READ_MODELS
from ports.records import MediaBody, OwnProfile, Profile
from queries import accounts as account_queries
from queries import posts as post_queries
from queries import shapes
from queries.media import media_shape
from queries.shapes import Account, Media, OwnAccount, Post, Relationship

log = structlog.get_logger(__name__)

# A read model that fails to refine an answer leaves the command's own view.
READ_FAILURES = (RoostError, PsycopgError, PoolTimeout, RedisError, OSError, TimeoutError)


def account_answer(view: Profile, counted: Account | None = None) -> Account:
    """The API Account of the write side's ``view``, with the counts of ``counted``
    (the read model's Account of it) or 0 when it has none yet."""
    return shapes.account(
        id=view["id"], username=view["username"], display_name=view["display_name"],
        bio=view["bio"], avatar_url=view["avatar_url"], created_at=view["created_at"],
        followers_count=counted["followers_count"] if counted else 0,
        following_count=counted["following_count"] if counted else 0,
        posts_count=counted["posts_count"] if counted else 0)


def own_account_answer(view: OwnProfile, counted: Account | None = None) -> OwnAccount:
    """``account_answer`` with the owner's email."""
    return shapes.own_account(account_answer(view, counted), email=view["email"])


def post_answer(view: PostView, author: Account, reply_to_available: bool | None,
                media_base_url: str | None = None) -> Post:
    """The API Post of the write side's ``view`` (counts 0, the reader's flags unset),
    its media's URLs under ``media_base_url`` (``queries.media.media_url``).

    As docs/api.md says, a write's answer about a post that is not a reply has
    no ``reply_to_available`` (reads show ``null``).
    """
    post = shapes.post(
        id=view["id"], author=author, text=view["text"], created_at=view["created_at"],
        reply_to_id=view["reply_to_id"], quote_of_id=view["quote_of_id"],
        mentions=view["mentions"], hashtags=view["hashtags"],
        reply_to_available=reply_to_available,
        media=[media_answer(m, media_base_url) for m in view.get("media", ())])
    if view["reply_to_id"] is None:
        del post["reply_to_available"]
    return post


def media_answer(view: MediaBody, base_url: str | None) -> Media:
    """The API Media of the write side's ``view``, its URLs under ``base_url``
    (``queries.media.media_url``)."""
    return media_shape(base_url, view)


def relationship_answer(result: Result) -> Relationship:
    """The API Relationship a follow, block or mute answers: the command's answer as it
    is (``ports.records.Relationship``, which ``queries.shapes`` shows as it is)."""
    return cast(Relationship, result.data)


async def counted_account(services: ApiServices, account_id: int) -> Account | None:
    """The read model's Account (with counts), or ``None`` when it does not have
    the account yet or cannot answer."""
    try:
        return await account_queries.get_account_by_id(services.queries, account_id)
    except READ_FAILURES as error:
        log.warning("answer.read_model_unavailable", what="account", error=repr(error))
        return None


async def written_account(services: ApiServices, actor: Actor) -> OwnProfile:
    """The actor's account as the event store has it (current, with the email). Found
    by the token's username (the aggregate's id) and checked against its account id:
    a token whose two claims name two accounts gets neither's profile.

    Raises:
        NotFound: ``account_not_found`` -- no account of that name and id.
    """
    store = services.bus.context.store
    account = await run_in_threadpool(store.get_or_none, account_uuid(actor.username))
    if account is None or account.account_id != actor.account_id:
        raise NotFound("account not found", code="account_not_found")
    return own_profile_view(account)


async def own_account(services: ApiServices, actor: Actor) -> OwnAccount:
    """The reader's own account. The email is never published with events, so the
    profile comes from the event store (the owner's account only: not a hot
    path); the counts come from the read model once it has the account."""
    view = await written_account(services, actor)
    counted = await account_queries.get_account_by_id(services.queries, actor.account_id)
    return own_account_answer(view, counted)


async def interaction_answer(services: ApiServices, response: Response, result: Result,
                             reader_id: int) -> Post | None:
    """The post a like or repost (or its undo) answers with, or ``None`` when the
    reader may no longer see it (deleted, or a block either way: answer 204).

    The read models are waited for (``write_answer_wait_s``, ``Roost-Stale`` on
    timeout) so that the counts include this write; the reader's flag is the
    command's.
    """
    view = cast(InteractionView, result.data)
    if not view["visible"] or view["author"] is None:
        return None
    try:
        await wait_until_applied(services, response, result.position, READ_MODELS,
                                 timeout_s=services.settings.write_answer_wait_s)
        post = await post_queries.get_post(services.queries, view["post_id"], reader_id)
    except READ_FAILURES as error:  # lagging, hidden by a stale block, or unreachable
        log.info("answer.from_command", post_id=view["post_id"], reason=repr(error))
        author = await counted_account(services, view["post"]["author_id"])
        post = post_answer(view["post"], author or account_answer(view["author"]),
                           view["reply_to_available"], services.settings.media_base_url)
    post[view["flag"]] = view["value"]
    return post
