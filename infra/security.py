"""Passwords (argon2id), access tokens (JWT) and revoked sessions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jwt
from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError
from cachetools import TTLCache
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.client import Pipeline as AsyncPipeline

from infra.redis_keys import RedisKeys
from infra.settings import Settings

JWT_ALGORITHM = "HS256"
JWT_AUDIENCE = "roost-api"


# Verified against when the account does not exist, so that a failed login
# takes as long whether or not the account exists.
_DUMMY_PASSWORD = "not-a-real-password"  # noqa: S105


class Argon2Passwords:
    """argon2id with parameters from settings; old hashes are upgraded at login."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = Argon2Hasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    @cached_property
    def _dummy_hash(self) -> str:
        """A hash made with this hasher's parameters, once, on the first unknown login."""
        return self.hash(_DUMMY_PASSWORD)

    def verify_unknown(self, password: str) -> bool:
        """One verify against this hasher's dummy hash (as slow as a real check); False."""
        self.verify(self._dummy_hash, password)
        return False


@dataclass(frozen=True, slots=True)
class TokenClaims:
    account_id: int
    username: str
    session_id: str


class InvalidToken(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JwtTokens:
    """Short-lived HS256 access tokens naming the account and the session."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.token_secret
        self._access_ttl = settings.access_token_ttl_s
        self._refresh_ttl = settings.refresh_token_ttl_s
        self._verified: TTLCache[str, tuple[TokenClaims, float]] = TTLCache(
            maxsize=50_000, ttl=60)

    @property
    def access_ttl_s(self) -> int:
        return self._access_ttl

    @property
    def refresh_ttl_s(self) -> int:
        return self._refresh_ttl

    def access_token(self, account_id: int, username: str, session_id: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(account_id), "name": username, "sid": session_id, "aud": JWT_AUDIENCE,
            "iat": now, "exp": now + self._access_ttl, "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def verify(self, token: str) -> TokenClaims:
        """The token's claims; a token verified before is answered from a small
        cache (a client sends the same token with every request) until it expires."""
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        claims = self._verify(token)
        self._verified[token] = claims
        return claims[0]

    def _verify(self, token: str) -> tuple[TokenClaims, float]:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM], audience=JWT_AUDIENCE,
                options={"require": ["exp", "sub", "sid", "name"]},
            )
            return (TokenClaims(int(claims["sub"]), str(claims["name"]), str(claims["sid"])),
                    float(claims["exp"]))
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token_expired", "the access token has expired") from None
        except (jwt.InvalidTokenError, ValueError, KeyError):
            raise InvalidToken("invalid_token", "the access token is not valid") from None


class RedisRevocations:
    """Ended sessions, remembered for as long as their access tokens live."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys

    def revoke(self, session_id: str, ttl_s: int) -> None:
        self._redis.set(self._keys.revoked_session(session_id), 1, ex=max(ttl_s, 1))

    def set_account_suspended(self, account_id: int, suspended: bool) -> None:
        key = self._keys.suspended_account(account_id)
        if suspended:
            self._redis.set(key, 1)
        else:
            self._redis.delete(key)

    def close(self) -> None:
        """Close its Redis client (the composition root built it for this object)."""
        self._redis.close()


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """A ``token_refusal`` made for a request: whose session, and the answer; or, when
    ``pending``, one not answered yet, riding along with the request's first Redis
    round trip and enforced before its answer leaves (``refusal`` is ``None`` until
    then; ``infra.http.ratelimit.RIDING_CHARGE``)."""

    session_id: str
    account_id: int
    refusal: str | None
    pending: bool = False


async def token_refusal(redis: AsyncRedis, keys: RedisKeys, session_id: str, account_id: int
                        ) -> str | None:
    """Why a token's session or account may no longer act, in one round trip (two
    ``EXISTS`` in a pipeline, not an ``MGET``: the keys live in different hash slots
    of a Redis Cluster): ``account_suspended`` (the account is suspended: checked
    first, so a suspended account's ended sessions say so), ``session_ended`` (the
    session was logged out or ended), or ``None``."""
    async with redis.pipeline(transaction=False) as pipe:
        queue_token_refusal(pipe, keys, session_id, account_id)
        return refusal_answer(await pipe.execute())


def queue_token_refusal(pipe: AsyncPipeline, keys: RedisKeys, session_id: str,
                        account_id: int) -> None:
    """``token_refusal``'s two commands, queued on ``pipe`` (their answers read by
    ``refusal_answer``), for a caller that sends more in the same round trip."""
    pipe.exists(keys.suspended_account(account_id))
    pipe.exists(keys.revoked_session(session_id))


def refusal_answer(found: Sequence[Any]) -> str | None:
    """``token_refusal``'s answer from the answers of ``queue_token_refusal``'s commands."""
    suspended, revoked = found
    if suspended:
        return "account_suspended"
    return "session_ended" if revoked else None
