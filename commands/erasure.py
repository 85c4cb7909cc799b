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

from uuid import UUID

from commands.context import CommandContext
from commands.messages import EraseAccount, Result
from domain.accounts import Account, EmailClaim
from domain.errors import NotFound, ValidationFailed
from domain.ids import account_uuid
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
    forgotten = ctx.store.forget_account(account.id, account.account_id)
    claims = _held_claims(ctx, forgotten.claim_ids, account.account_id)
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
    for claim in claims:  # the address may sign up again: no "email_taken" tells it was
        claim.release()
    if account.erased:  # a rerun: it also releases what an interrupted run left held
        if claims:
            ctx.store.save_all(*claims)
        return Result(ctx.store.position_of(account.id, account.version), answer)
    account.erase(account_id=account.account_id, erased_by=cmd.requested_by)
    # the claims first: the answer's position is AccountErased's, as a rerun answers it
    return Result(ctx.store.save_all(*claims, account), answer)


def _held_claims(ctx: CommandContext, claim_ids: tuple[UUID, ...], account_id: int
                 ) -> list[EmailClaim]:
    """The email claims (of ``claim_ids``: every one that ever named the account) that
    still hold an address for it: not released, not claimed again by another account.
    Found by id, never by the address, which is unreadable once forgotten, so a rerun
    after a crash, or of an account erased before claims were released, still finds it."""
    held = []
    for claim_id in claim_ids:
        claim: EmailClaim | None = ctx.store.get_or_none(claim_id)
        if claim is not None and not claim.released and claim.account_id == account_id:
            held.append(claim)
    return held
