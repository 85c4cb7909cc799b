"""The argon2id password hasher, and the dummy check for unknown logins it owns."""

from __future__ import annotations

import pytest

from infra.security import Argon2Passwords
from tests.conftest import make_settings


@pytest.fixture
def passwords() -> Argon2Passwords:
    return Argon2Passwords(make_settings(argon2_time_cost=1, argon2_memory_kib=1024,
                                         argon2_parallelism=1))


def test_a_hash_verifies_its_password_only(passwords: Argon2Passwords) -> None:
    stored = passwords.hash("correct horse")
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "wrong horse")
    assert not passwords.verify("not a hash", "correct horse")
    assert not passwords.needs_rehash(stored)


def test_an_unknown_login_costs_one_verify_against_a_hash_made_once(
        passwords: Argon2Passwords, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    verified: list[str] = []
    real_hash, real_verify = passwords.hash, passwords.verify

    def counted_hash(password: str) -> str:
        hashed.append(password)
        return real_hash(password)

    def counted_verify(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "hash", counted_hash)
    monkeypatch.setattr(passwords, "verify", counted_verify)
    assert passwords.verify_unknown("guess") is False
    assert passwords.verify_unknown("not-a-real-password") is False  # even the dummy's own
    assert len(hashed) == 1  # the dummy hash, kept by this hasher
    assert len(verified) == 2 and verified[0] == verified[1]
    assert verified[0].startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_each_hasher_keeps_its_own_dummy_hash_with_its_own_parameters() -> None:
    weak = Argon2Passwords(make_settings(argon2_time_cost=1, argon2_memory_kib=1024,
                                         argon2_parallelism=1))
    other = Argon2Passwords(make_settings(argon2_time_cost=2, argon2_memory_kib=2048,
                                          argon2_parallelism=1))
    assert weak.verify_unknown("x") is False and other.verify_unknown("x") is False
    assert "m=1024,t=1" in vars(weak)["_dummy_hash"]
    assert "m=2048,t=2" in vars(other)["_dummy_hash"]
