"""Accounts, follower lists and relationships, from the read models.

A suspended account answers ``403 account_suspended`` wherever it is named (its
profile, posts, follower lists, the relationship with it), for every reader; the
lists that show other accounts leave it out (``ports.read_model_reader``)."""

from __future__ import annotations

from domain.errors import AccountSuspended, NotFound
from ports.read_model_reader import AccountRow, FollowDirection, HiddenAccounts
from queries.context import QueryContext
from queries.cursors import decode_int_cursor, encode_cursor
from queries.cursors import upper_bound as _upper_bound
from queries.shapes import Account, Page, Relationship, account_of_row, page
from queries.shapes import relationship as relationship_shape
from queries.visibility import hidden_for


def _no_account(username: str) -> NotFound:
    return NotFound(f"no account named {username!r}", code="account_not_found")


async def _shown_account(ctx: QueryContext, username: str) -> AccountRow:
    """The account named ``username``; 404 for none, 403 ``account_suspended`` for a
    suspended one."""
    row = await ctx.read_models.account_by_username(username)
    if row is None:
        raise _no_account(username)
    if row["suspended"]:
        raise AccountSuspended(f"{row['username']} is suspended")
    return row


async def account_id_by_username(ctx: QueryContext, username: str) -> int:
    return (await _shown_account(ctx, username))["id"]


async def visible_account(ctx: QueryContext, username: str, reader_id: int | None
                          ) -> tuple[int, HiddenAccounts]:
    """The account's id and whom the reader must not see; 404 when the account and the
    reader block each other."""
    account_id = await account_id_by_username(ctx, username)
    hidden = await hidden_for(ctx.read_models, reader_id)
    if account_id in hidden.blocked:
        raise _no_account(username)
    return account_id, hidden


async def visible_account_id(ctx: QueryContext, username: str, reader_id: int | None) -> int:
    """The account's id, or 404 when it and the reader block each other."""
    account_id, _ = await visible_account(ctx, username, reader_id)
    return account_id


async def get_account(ctx: QueryContext, username: str) -> Account:
    """A public profile (shown even across a block, so the block itself is visible; not
    while suspended: 403 ``account_suspended``)."""
    return account_of_row(await _shown_account(ctx, username))


async def get_account_by_id(ctx: QueryContext, account_id: int) -> Account | None:
    """The public profile with that id, or ``None`` when the read model lacks it."""
    row = await ctx.read_models.account_by_id(account_id)
    return None if row is None else account_of_row(row)


async def follow_list(
    ctx: QueryContext, username: str, direction: FollowDirection, reader_id: int | None,
    cursor: str | None, limit: int,
) -> Page[Account]:
    """Followers or followings, newest follow first, without accounts the reader blocks."""
    account_id, hidden = await visible_account(ctx, username, reader_id)
    before = _upper_bound(decode_int_cursor(cursor))
    rows = await ctx.read_models.follow_page(account_id, direction, before,
                                             sorted(hidden.blocked), limit + 1)
    items = [account_of_row(row) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1]["position"]) if len(rows) > limit else None
    return page(items, next_cursor)


async def relationship(ctx: QueryContext, reader_id: int, username: str) -> Relationship:
    """How the reader and ``username`` relate; a mute is visible only to the muter."""
    other = await account_id_by_username(ctx, username)
    edges = set(await ctx.read_models.edges_between(reader_id, other))
    return relationship_shape(
        following=("follow", reader_id, other) in edges,
        followed_by=("follow", other, reader_id) in edges,
        blocking=("block", reader_id, other) in edges,
        blocked_by=("block", other, reader_id) in edges,
        muting=("mute", reader_id, other) in edges,
    )
