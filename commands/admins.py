"""The admin role: given and taken by operators, checked on every admin request."""

from __future__ import annotations

from commands.context import CommandContext
from commands.messages import Result, SetAdmin
from domain.accounts import Account
from domain.errors import NotFound
from domain.ids import account_uuid
from ports.event_store import EventStore

MAX_BY = 200


def set_admin(cmd: SetAdmin, ctx: CommandContext) -> Result:
    """Bring the account's role to ``cmd.active``; idempotent (a second grant appends
    nothing and answers the position of the event that made it admin).

    ``Result.data``: ``{"username", "account_id", "is_admin"}``.

    Raises:
        NotFound: no account has that username (any case), or an erased one is to be
            made an admin.
    """
    account: Account | None = ctx.store.get_or_none(account_uuid(cmd.username))
    if account is None or (cmd.active and account.gone):
        raise NotFound(f"no account named {cmd.username!r}", code="account_not_found")
    answer = {"username": account.username, "account_id": account.account_id,
              "is_admin": cmd.active}
    if account.is_admin == cmd.active:
        return Result(ctx.store.position_of(account.id, account.version), answer)
    by = cmd.by[:MAX_BY]
    if cmd.active:
        account.grant_admin(account_id=account.account_id, by=by)
    else:
        account.revoke_admin(account_id=account.account_id, by=by)
    return Result(ctx.store.save_all(account), answer)


def is_admin(store: EventStore, username: str, account_id: int | None = None) -> bool:
    """Whether the account named ``username`` (and, when given, with id ``account_id``)
    holds the admin role now, read from its events (not a read model, which may lag:
    a revoke takes effect at once). An erased or suspended account is no admin."""
    account: Account | None = store.get_or_none(account_uuid(username))
    return account is not None and account.is_admin and not account.gone \
        and not account.suspended and account_id in (None, account.account_id)
