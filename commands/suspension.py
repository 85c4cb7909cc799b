"""Suspending an account, and lifting it: a moderator's decision, taken at once.

``set_suspension`` records ``AccountSuspended`` (or ``AccountUnsuspended``) on the
account, then marks the account in the revocation list (every request with one of
its tokens is then ``403 account_suspended``) and ends every session it has
(``SessionEnded``, each revoked): its refresh tokens stop working too, and stay
dead after the suspension is lifted (the account signs in again). Login refuses a
suspended account (``commands.sessions``); the projections hide it and its posts
(``projections/``, ``queries/``).

Idempotent: suspending a suspended account appends nothing, but marks it and ends
its sessions again (so a run that failed after its event was saved -- Redis down --
is completed by running it again); lifting a suspension that is not there appends
nothing and unmarks it again. Authorization is the edge's, as for erasure
(``commands.erasure``).
"""

from __future__ import annotations

from commands.context import CommandContext
from commands.messages import Result, SetSuspension
from domain.accounts import Account, suspension_reason_problem
from domain.errors import NotFound, ValidationFailed
from domain.ids import account_uuid
from domain.sessions import Session

MAX_BY = 200


def set_suspension(cmd: SetSuspension, ctx: CommandContext) -> Result:
    """Bring ``cmd.username``'s suspension to ``cmd.active``. ``Result.data``:
    ``{"username", "account_id", "suspended", "changed", "sessions_ended"}``
    (``changed``: an event was appended; ``sessions_ended``: sessions this run
    ended). The position is the new event's, or the account's last event's when
    nothing changed.

    Raises:
        NotFound: ``account_not_found`` -- no account has that username (any case),
            or it is erased.
        ValidationFailed: ``reason`` breaks the text rule or is over 500 characters;
            ``cannot_suspend_self`` -- an admin's token names its own account.
    """
    account: Account | None = ctx.store.get_or_none(account_uuid(cmd.username))
    if account is None or account.gone:
        raise NotFound(f"no account named {cmd.username!r}", code="account_not_found")
    if cmd.active and (problem := suspension_reason_problem(cmd.reason)):
        raise ValidationFailed({"reason": problem})
    if cmd.active and cmd.by == f"admin:{account.account_id}":
        raise ValidationFailed({"username": "an admin cannot suspend their own account"},
                               code="cannot_suspend_self")
    changed = account.suspended != cmd.active
    if not changed:
        position = ctx.store.position_of(account.id, account.version)
    elif cmd.active:
        account.suspend(account_id=account.account_id, reason=cmd.reason, by=cmd.by[:MAX_BY])
        position = ctx.store.save_all(account)
    else:
        account.unsuspend(account_id=account.account_id, by=cmd.by[:MAX_BY])
        position = ctx.store.save_all(account)
    # After the event: a crash in between leaves the suspension recorded, and running
    # the command again (a no-op for the event) completes what follows. The sessions
    # end in the event store before anything is asked of Redis: with Redis down, the
    # account's refresh tokens are dead already and its access tokens lapse within
    # their lifetime, instead of the whole account working on until the next run.
    ended = end_sessions(ctx, account.account_id) if cmd.active else 0
    ctx.revocations.set_account_suspended(account.account_id, cmd.active)
    return Result(position, {"username": account.username, "account_id": account.account_id,
                             "suspended": cmd.active, "changed": changed,
                             "sessions_ended": ended})


def end_sessions(ctx: CommandContext, account_id: int) -> int:
    """End every session of the account not ended yet, in one transaction (a refresh
    racing it clashes: the bus runs the command again, which finds the suspension
    recorded and ends the rest), then revoke each session (ended ones again:
    revoking is idempotent); the number this call ended."""
    sessions: list[Session] = [s for i in ctx.store.sessions_of(account_id)
                               if (s := ctx.store.get_or_none(i)) is not None]
    ending = [s for s in sessions if not s.ended]
    for session in ending:
        session.end()
    ctx.store.save_all(*ending)
    for session in sessions:
        ctx.revocations.revoke(session.id.hex, ctx.tokens.access_ttl_s)
    return len(ending)
