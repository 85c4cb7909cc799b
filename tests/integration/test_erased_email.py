"""An erased account's email address is released: it may sign up again, so ``409
email_taken`` no longer tells anyone the address was registered here. The username
stays taken (no one is given an erased person's name), and the address logs in to the
new account only."""

from __future__ import annotations

import pytest

from commands.bus import CommandBus
from commands.messages import EraseAccount, Login, RegisterAccount
from domain.accounts import Account, EmailClaim
from domain.errors import Conflict, Unauthorized
from domain.ids import account_uuid, email_claim_uuid
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


def _sign_up_with(bus: CommandBus, email: str, username: str = "newcomer") -> int:
    return int(bus.handle(RegisterAccount(username=username, email=email,
                                          password=PASSWORD)).data["id"])


def test_a_rerun_releases_what_an_interrupted_erasure_left_held(write_side: WriteSide) -> None:
    """A crash after the store forgot the account, before ``AccountErased``: the address
    is unreadable now, yet the rerun finds the claim by its rows' owner."""
    bus = write_side.bus
    alice = signup(bus, "alice", email="alice@example.com")
    write_side.store.forget_account(account_uuid("alice"), alice.account_id)  # the crash
    bus.handle(EraseAccount(username="alice", requested_by="operator"))
    assert _sign_up_with(bus, "alice@example.com") > 0


def test_an_account_erased_before_releases_existed_gets_its_address_back_on_a_rerun(
        write_side: WriteSide) -> None:
    """An erasure stored by the code before this change: ``AccountErased`` without
    ``EmailReleased``. Running the erasure again releases the address, once."""
    bus = write_side.bus
    bob = signup(bus, "bob", email="bob@example.com")
    store = write_side.store
    store.forget_account(account_uuid("bob"), bob.account_id)
    account: Account | None = store.get_or_none(account_uuid("bob"))
    assert account is not None
    account.erase(account_id=bob.account_id, erased_by="operator")
    erased_at = store.save_all(account)  # as the old handler did: the claim left held
    with pytest.raises(Conflict):
        _sign_up_with(bus, "bob@example.com")
    again = bus.handle(EraseAccount(username="bob", requested_by="operator"))
    assert again.position == erased_at and again.data["already_erased"] is True
    head = write_side.head()
    assert bus.handle(EraseAccount(username="bob", requested_by="operator")).position \
        == erased_at
    assert write_side.head() == head  # released once: a third run appends nothing
    assert _sign_up_with(bus, "bob@example.com") > 0


def test_erasing_never_releases_a_claim_another_account_holds_now(
        write_side: WriteSide) -> None:
    bus = write_side.bus
    signup(bus, "carol", email="carol@example.com")
    bus.handle(EraseAccount(username="carol", requested_by="operator"))
    dave = _sign_up_with(bus, "carol@example.com", username="dave")
    head = write_side.head()
    bus.handle(EraseAccount(username="carol", requested_by="operator"))  # a rerun
    assert write_side.head() == head  # nothing appended: dave's claim is not carol's
    claim: EmailClaim | None = write_side.store.get_or_none(email_claim_uuid("carol@example.com"))
    assert claim is not None and (claim.account_id, claim.released) == (dave, False)
