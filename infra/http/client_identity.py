"""Who a request is counted against: its client address and its bearer account.

Client address: ``request.client.host``. Behind a reverse proxy that is the
proxy's address; set ``ROOST_TRUST_FORWARDED_FOR=true`` only when a proxy you run
appends the real address to ``X-Forwarded-For`` (we take the last entry, the one
your proxy wrote; earlier entries are client-supplied and spoofable). IPv6
addresses are counted per /64, since one host usually holds a whole /64.
"""

from __future__ import annotations

import ipaddress

from starlette.types import Scope as AsgiScope

from infra.security import InvalidToken, JwtTokens, TokenClaims


def client_address(scope: AsgiScope, trust_forwarded_for: bool = False) -> str:
    """The address a request is counted against (see the module docstring)."""
    raw = ""
    if trust_forwarded_for:
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers", [])
                     if k.lower() == b"x-forwarded-for"]
        raw = ",".join(forwarded).split(",")[-1].strip() if forwarded else ""
    if not _is_ip(raw):
        client = scope.get("client")
        raw = str(client[0]) if client else "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def bearer_account_id(scope: AsgiScope, tokens: JwtTokens) -> int | None:
    """The account of a valid bearer token, else None. Counting an invalid token by
    address only leaves the 401 to the routes that need a token (sign-up must not
    fail over a stale one). Revocation is not checked: the token is still its
    account's, and the route refuses it."""
    claims = bearer_claims(scope, tokens)
    return claims.account_id if claims is not None else None


def bearer_claims(scope: AsgiScope, tokens: JwtTokens) -> TokenClaims | None:
    """The claims of a valid bearer token (revocation not checked), else None."""
    token = bearer_token(scope)
    if token is None:
        return None
    try:
        return tokens.verify(token)
    except InvalidToken:
        return None


def bearer_token(scope: AsgiScope) -> str | None:
    """The token of the first ``Authorization`` header when it is ``Bearer <token>``,
    read as FastAPI's ``HTTPBearer`` reads it (the scheme in any case, the token
    stripped); ``None`` without one (another scheme, or nothing after it)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
