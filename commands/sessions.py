"""Handlers for logging in, refreshing a session and logging out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from commands.context import CommandContext
from commands.messages import Login, Logout, RefreshSession, Result
from domain.accounts import Account, normalise_email
from domain.errors import AccountSuspended, Unauthorized
from domain.ids import account_uuid, email_claim_uuid
from domain.sessions import Session


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _invalid_credentials() -> Unauthorized:
    return Unauthorized("login or password is incorrect", code="invalid_credentials")


def _invalid_refresh() -> Unauthorized:
    return Unauthorized("refresh token is invalid, used or expired", code="invalid_refresh_token")


def _find_account(ctx: CommandContext, login: str) -> Account | None:
    """The live account a login names, by email (with an ``@``) or username; both with
    surrounding whitespace trimmed, as a pasted or autofilled login often has it."""
    login = login.strip()
    if "@" in login:
        try:
            email = normalise_email(login)
        except ValueError:
            return None
        claim = ctx.store.get_or_none(email_claim_uuid(email))
        found = None if claim is None or claim.released \
            else ctx.store.get_or_none(account_uuid(claim.username))
        return None if found is None or found.gone else found
    if not login or len(login) > 30:
        return None
    account: Account | None = ctx.store.get_or_none(account_uuid(login))
    return None if account is None or account.gone else account


def _token_pair(ctx: CommandContext, session: Session, secret: str) -> dict[str, object]:
    return {
        "access_token": ctx.tokens.access_token(
            session.account_id, session.username, session.id.hex
        ),
        "refresh_token": f"{session.id.hex}.{secret}",
        "token_type": "bearer",
        "expires_in": ctx.tokens.access_ttl_s,
    }


def login(cmd: Login, ctx: CommandContext) -> Result:
    """A new session and its tokens.

    Raises:
        Unauthorized: ``invalid_credentials`` (no such account, or a wrong password).
        AccountSuspended: the password is right but the account is suspended (403;
            told only to whoever knows the password).
    """
    account = _find_account(ctx, cmd.login)
    if account is None:
        ctx.passwords.verify_unknown(cmd.password)  # as slow as a real check
        raise _invalid_credentials()
    if not ctx.passwords.verify(account.password_hash, cmd.password):
        raise _invalid_credentials()
    if account.suspended:
        raise AccountSuspended("this account is suspended; it cannot sign in")
    secret = secrets.token_urlsafe(32)
    session = Session(
        account_id=account.account_id, username=account.username, refresh_hash=_secret_hash(secret)
    )
    changed: list[Account | Session] = [session]
    if ctx.passwords.needs_rehash(account.password_hash):
        account.rehash_password(ctx.passwords.hash(cmd.password))
        changed.append(account)
    position = ctx.store.save_all(*changed)
    # A suspension saved while the password was being checked ended the sessions it
    # found, maybe before this one was saved: look again, now that this one is.
    latest: Account | None = ctx.store.get_or_none(account.id)
    if latest is not None and latest.suspended:
        _end_session(ctx, session)
        raise AccountSuspended("this account is suspended; it cannot sign in")
    return Result(position, _token_pair(ctx, session, secret))


def refresh_session(cmd: RefreshSession, ctx: CommandContext) -> Result:
    """Rotate the refresh secret: the presented token works exactly once.

    A token that was rotated out, presented again, is reuse (the OAuth 2.0
    Security BCP's refresh-token reuse detection): someone holds a copy. The
    whole session ends -- its refresh token and every access token issued in
    it stop working -- and the answer is 401. Of two refreshes racing with the
    same token, one wins and the other is then reuse: that ends the session
    too (the BCP's choice; the client logs in again).

    Raises:
        Unauthorized: ``invalid_refresh_token`` (unreadable, unknown, ended,
            expired, reused).
    """
    session_hex, _, secret = cmd.refresh_token.partition(".")
    try:
        session_id = UUID(hex=session_hex)
    except ValueError:
        raise _invalid_refresh() from None
    session = ctx.store.get_or_none(session_id)
    if not isinstance(session, Session) or session.ended or not secret:
        raise _invalid_refresh()
    presented = _secret_hash(secret)
    if session.was_rotated_out(presented):
        _end_session(ctx, session)
        raise _invalid_refresh()
    if not hmac.compare_digest(session.refresh_hash, presented):
        raise _invalid_refresh()
    if session.modified_on + timedelta(seconds=ctx.tokens.refresh_ttl_s) < datetime.now(UTC):
        raise _invalid_refresh()
    new_secret = secrets.token_urlsafe(32)
    session.refresh(refresh_hash=_secret_hash(new_secret))
    # A concurrent refresh with the same token raises IntegrityError here: the
    # bus runs this handler again, which then finds the token rotated out.
    position = ctx.store.save_all(session)
    return Result(position, _token_pair(ctx, session, new_secret))


def _end_session(ctx: CommandContext, session: Session) -> int:
    """End ``session`` (if not already) and revoke its access tokens; the position."""
    if session.ended:
        position = ctx.store.position_of(session.id, session.version)
    else:
        session.end()
        position = ctx.store.save_all(session)
    ctx.revocations.revoke(session.id.hex, ctx.tokens.access_ttl_s)
    return position


def logout(cmd: Logout, ctx: CommandContext) -> Result:
    session = ctx.store.get_or_none(UUID(hex=cmd.actor.session_id))
    if not isinstance(session, Session):
        raise Unauthorized("session not found", code="invalid_token")
    return Result(_end_session(ctx, session))
