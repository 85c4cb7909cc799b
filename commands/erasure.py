"""Erasing an account's personal data (issue 12): the store's part and the event.

``erase_account`` makes the account's personal data unreadable in the event store
(``EventStore.forget_account``: its data key destroyed, plain rows rewritten), ends
its sessions (their refresh tokens and access tokens stop working), then records
``AccountErased`` -- an event with no personal data, on which every projection
purges the account (``projections/``). Running it again on an erased account
repeats the store's part (idempotent) and appends nothing.

Authorization is the edge's: the CLI (an operator on the host) or the admin route
(an admin token); the command names who asked (``EraseAccount.requested_by``).
"""

from __future__ import annotations

from commands.context import CommandContext
from commands.messages import EraseAccount, Result
from domain.accounts import Account, EmailClaim
from domain.errors import NotFound, ValidationFailed
from domain.ids import account_uuid, email_claim_uuid
from domain.sessions import Session


def erase_account(cmd: EraseAccount, ctx: CommandContext) -> Result:
    """Erase ``cmd.username``. The answer: ``{account_id, rows_rewritten,
    sessions_ended, already_erased}``.

    Raises:
        NotFound: ``account_not_found`` -- no account has that username.
        ValidationFailed: ``cannot_erase_self`` -- an admin's token names its own
            account (an operator's ``roost accounts erase`` can).
    """
    account: Account | None = ctx.store.get_or_none(account_uuid(cmd.username))
    if account is None:
        raise NotFound("account not found", code="account_not_found")
    if cmd.requested_by == f"admin:{account.account_id}" and not account.erased:
        raise ValidationFailed({"username": "an admin cannot erase their own account here"},
                               code="cannot_erase_self")
    claim = None if account.erased else _own_claim(ctx, account)  # read before forgetting
    forgotten = ctx.store.forget_account(account.id, account.account_id)
    ended = 0
    for session_id in forgotten.session_ids:
        session: Session | None = ctx.store.get_or_none(session_id)
        if session is None:
            continue
        if not session.ended:
            session.end()
            ctx.store.save_all(session)
            ended += 1
        ctx.revocations.revoke(session.id.hex, ctx.tokens.access_ttl_s)
    answer = {"account_id": account.account_id, "rows_rewritten": forgotten.rows_rewritten,
              "sessions_ended": ended, "already_erased": account.erased}
    if account.erased:
        return Result(ctx.store.position_of(account.id, account.version), answer)
    account.erase(account_id=account.account_id, erased_by=cmd.requested_by)
    if claim is None:
        return Result(ctx.store.save_all(account), answer)
    claim.release()  # the address may sign up again: no "email_taken" tells it was here
    # the claim first: the answer's position is AccountErased's, as a repeat answers it
    return Result(ctx.store.save_all(claim, account), answer)


def _own_claim(ctx: CommandContext, account: Account) -> EmailClaim | None:
    """The claim on the account's email address, while it holds it."""
    claim: EmailClaim | None = ctx.store.get_or_none(email_claim_uuid(account.email))
    if claim is None or claim.released or claim.account_id != account.account_id:
        return None
    return claim
