"""Handlers for signing up and editing a profile."""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError

from commands.context import CommandContext
from commands.messages import RegisterAccount, Result, UpdateProfile
from commands.views import own_profile_view
from domain.accounts import (
    Account,
    EmailClaim,
    avatar_url_problem,
    bio_problem,
    display_name_problem,
    normalise_email,
    password_problem,
    username_problem,
)
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.ids import account_uuid, email_claim_uuid
from domain.text import normalise_text

PROFILE_RULES = {
    "display_name": display_name_problem,
    "bio": bio_problem,
    "avatar_url": avatar_url_problem,
}


def register_account(cmd: RegisterAccount, ctx: CommandContext) -> Result:
    """Create an account and claim its email in one transaction.

    Both aggregates have ids derived from the name, so a concurrent sign-up
    with the same username or email fails in the event store itself.
    """
    problems: dict[str, str] = {}
    if problem := username_problem(cmd.username):
        problems["username"] = problem
    try:
        email = normalise_email(cmd.email)
    except ValueError as error:
        problems["email"] = str(error)
        email = cmd.email
    if problem := password_problem(cmd.password):
        problems["password"] = problem
    display_name = normalise_text(cmd.display_name)
    if problem := display_name_problem(display_name):
        problems["display_name"] = problem
    if problems:
        raise ValidationFailed(problems)
    released = _check_unclaimed(ctx, cmd.username, email)
    account = Account(
        account_id=ctx.ids.next_id(),
        username=cmd.username,
        email=email,
        password_hash=ctx.passwords.hash(cmd.password),
        display_name=display_name,
    )
    if released is None:
        claim = EmailClaim(email=email, account_id=account.account_id,
                           username=account.username)
    else:  # the address of an erased account: claimed again (a version of its own)
        claim = released
        claim.reclaim(email=email, account_id=account.account_id, username=account.username)
    answer = own_profile_view(account)
    try:
        position = ctx.commit(account, claim, answer=answer)
    except IntegrityError:
        if ctx.keyed is not None and ctx.store.exists(ctx.keyed.claim.record_id):
            raise  # a run with the same Idempotency-Key won: the bus answers as it did
        _check_unclaimed(ctx, cmd.username, email)  # name which one was taken
        raise Conflict("username or email is already taken", code="taken") from None
    return Result(position, answer)


def _check_unclaimed(ctx: CommandContext, username: str, email: str) -> EmailClaim | None:
    """Refuse a username that exists (an erased account's too: its name is never given
    to another) or an email claimed by a live account; the released claim of an erased
    account's email, if it is one (``None``: never claimed)."""
    if ctx.store.exists(account_uuid(username)):
        raise Conflict("that username is taken", code="username_taken", field="username")
    claim: EmailClaim | None = ctx.store.get_or_none(email_claim_uuid(email))
    if claim is not None and not claim.released:
        raise Conflict("that email is already registered", code="email_taken", field="email")
    return claim


def update_profile(cmd: UpdateProfile, ctx: CommandContext) -> Result:
    account = ctx.store.get_or_none(account_uuid(cmd.actor.username))
    if account is None or account.gone or account.account_id != cmd.actor.account_id:
        raise NotFound("account not found", code="account_not_found")  # both claims
    changes = {name: (value or "") if name == "avatar_url" else normalise_text(value or "")
               for name, value in cmd.changes.items()}
    problems = {
        name: problem
        for name, value in changes.items()
        if (problem := PROFILE_RULES[name](value))
    }
    if problems:
        raise ValidationFailed(problems)
    merged = {name: getattr(account, name) for name in PROFILE_RULES}
    merged.update(changes)
    if all(getattr(account, name) == value for name, value in merged.items()):
        return Result(ctx.store.position_of(account.id, account.version),
                      own_profile_view(account))
    account.update_profile(**merged)
    answer = own_profile_view(account)
    return Result(ctx.commit(account, answer=answer), answer)
