"""An erased account's email address is released: it may sign up again, so ``409
email_taken`` no longer tells anyone the address was registered here. The username
stays taken (no one is given an erased person's name), and the address logs in to the
new account only."""

from __future__ import annotations

import pytest

from commands.messages import EraseAccount, Login, RegisterAccount
from domain.accounts import EmailClaim
from domain.errors import Conflict, Unauthorized
from domain.ids import email_claim_uuid
from tests.integration.conftest import PASSWORD, WriteSide, signup


def test_an_erased_accounts_email_signs_up_again_and_its_name_stays_taken(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    signup(bus, "alice", email="Alice@Example.com")
    bus.handle(EraseAccount(username="alice", requested_by="operator"))
    with pytest.raises(Unauthorized):  # the address names no account meanwhile
        bus.handle(Login(login="alice@example.com", password=PASSWORD))

    newcomer = bus.handle(RegisterAccount(username="newcomer", email="alice@example.com",
                                          password=PASSWORD))
    assert newcomer.data["email"] == "alice@example.com"
    tokens = bus.handle(Login(login="ALICE@example.com", password=PASSWORD)).data
    assert str(tokens["access_token"])  # the new account's session
    claim: EmailClaim | None = write_side.store.get_or_none(email_claim_uuid("alice@example.com"))
    assert claim is not None
    assert (claim.username, claim.account_id, claim.released) == (
        "newcomer", int(newcomer.data["id"]), False)

    with pytest.raises(Conflict) as taken:  # claimed again: taken like any other
        bus.handle(RegisterAccount(username="third", email="alice@example.com",
                                   password=PASSWORD))
    assert taken.value.code == "email_taken"
    with pytest.raises(Conflict) as name:
        bus.handle(RegisterAccount(username="Alice", email="other@example.com",
                                   password=PASSWORD))
    assert name.value.code == "username_taken"


def test_erasing_again_or_an_account_whose_claim_moved_on_releases_nothing(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    signup(bus, "bob")
    bus.handle(EraseAccount(username="bob", requested_by="operator"))
    head = write_side.head()
    bus.handle(EraseAccount(username="bob", requested_by="operator"))
    assert write_side.head() == head  # idempotent: nothing appended
