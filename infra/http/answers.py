"""What a write answers, built from the command's own result.

A command that appended its events has succeeded, whatever the read models
say: they may lag behind (the worker stopped) or be unreachable. So a write's
answer starts from what the handler loaded and appended, and the read models
only refine it -- counts, the author's counts -- when they answer in time.
Nothing here turns a recorded write into a 4xx or 5xx.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Response
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from commands.messages import Result
from domain.errors import RoostError
from infra.http.deps import wait_until_applied
from infra.http.routes.accounts import shape_new_account
from infra.http.services import ApiServices
from ports.projectors import READ_MODELS
from queries import accounts as account_queries
from queries import posts as post_queries
from queries.shapes import post_shape

log = structlog.get_logger(__name__)

# A read model that fails to refine an answer leaves the command's own view.
READ_FAILURES = (RoostError, PsycopgError, PoolTimeout, RedisError, OSError, TimeoutError)


async def author_shape(services: ApiServices, author_id: int,
                       written: dict[str, Any] | None) -> dict[str, Any]:
    """The author as an API Account: the read model's (with counts) if it has
    the account, else ``written`` (the command's view of it) with counts 0."""
    try:
        found = await account_queries.get_account_by_id(services.queries, author_id)
    except READ_FAILURES as error:
        log.warning("answer.read_model_unavailable", what="account", error=repr(error))
        found = None
    if found is not None or written is None:
        return found or {}
    return shape_new_account(written)


def post_from_view(view: dict[str, Any], author: dict[str, Any],
                   reply_to_available: bool | None) -> dict[str, Any]:
    """An API Post from the write side's ``post_view`` (counts 0, flags unset)."""
    row = (view["id"], view["text"], view["created_at"], view["reply_to_id"],
           view["quote_of_id"], view["mentions"], view["hashtags"])
    post = post_shape(row, author)
    if view["reply_to_id"] is not None:
        post["reply_to_available"] = reply_to_available
    return post


async def interaction_answer(services: ApiServices, response: Response, result: Result,
                             reader_id: int) -> dict[str, Any] | None:
    """The post a like or repost (or its undo) answers with, or ``None`` when the
    reader may no longer see it (deleted, or a block either way: answer 204).

    The read models are waited for (``write_answer_wait_s``, ``Roost-Stale`` on
    timeout) so that the counts include this write; the reader's flag is the
    command's.
    """
    data = result.data
    if not data["visible"]:
        return None
    try:
        await wait_until_applied(services, response, result.position, READ_MODELS,
                                 timeout_s=services.settings.write_answer_wait_s)
        post = await post_queries.get_post(services.queries, data["post_id"], reader_id)
    except READ_FAILURES as error:  # lagging, hidden by a stale block, or unreachable
        log.info("answer.from_command", post_id=data["post_id"], reason=repr(error))
        author = await author_shape(services, data["post"]["author_id"], data["author"])
        post = post_from_view(data["post"], author, data["reply_to_available"])
    post[data["flag"]] = data["value"]
    return post
