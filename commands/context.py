"""Everything a handler may use, injected once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from commands.application import RoostStore
from commands.ports import IdGenerator, PasswordHasher, SessionRevocations, TokenIssuer


@dataclass(frozen=True, slots=True)
class CommandContext:
    store: RoostStore
    passwords: PasswordHasher
    tokens: TokenIssuer
    revocations: SessionRevocations
    ids: IdGenerator
