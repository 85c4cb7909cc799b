"""Account field rules: usernames, emails, passwords and profile fields."""

from __future__ import annotations

import pytest

from domain.accounts import (
    MAX_AVATAR_URL,
    RESERVED_USERNAMES,
    avatar_url_problem,
    bio_problem,
    display_name_problem,
    normalise_email,
    password_problem,
    username_problem,
)


@pytest.mark.parametrize("username", ["a", "A", "_", "alice_42", "Z" * 30, "0123"])
def test_valid_usernames(username: str) -> None:
    assert username_problem(username) is None


@pytest.mark.parametrize(
    "username",
    ["", "a" * 31, "al ice", "al-ice", "al.ice", "alice!", "caf\u00e9", "\uff41", "alice\n",
     " alice", "@alice", "al\u0131ce"],
)
def test_invalid_usernames(username: str) -> None:
    assert username_problem(username) is not None


@pytest.mark.parametrize("username", ["me", "ME", "Admin", "api", "Root", "health", "NULL"])
def test_reserved_usernames_in_any_case(username: str) -> None:
    assert username_problem(username) == "is reserved"


def test_reserved_words_are_valid_usernames_otherwise() -> None:
    assert all(username_problem(name + "x") is None for name in RESERVED_USERNAMES)


def test_email_is_normalised() -> None:
    assert normalise_email("Alice.Smith@Example.COM") == "Alice.Smith@example.com"


@pytest.mark.parametrize(
    "email", ["", "alice", "alice@", "@example.com", "a b@example.com", "alice@@example.com",
              "alice@exa mple.com", "alice@localhost"],
)
def test_invalid_emails_raise_value_error_with_a_reason(email: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        normalise_email(email)


@pytest.mark.parametrize(
    ("password", "ok"),
    [("a" * 7, False), ("a" * 8, True), ("\U0001f600" * 8, True), ("a" * 1024, True),
     ("a" * 1025, False), ("", False)],
)
def test_password_length_bounds(password: str, ok: bool) -> None:
    assert (password_problem(password) is None) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [("", True), ("x" * 50, True), ("x" * 51, False), ("Jo\nDoe", False), ("Jo\rDoe", False),
     ("Jo\x00", False), ("\u00c9milie \U0001f426", True), ("\u200b", False),
     ("\u3164", False), ("Ann\u202eeil", False), ("\u202aAnn", False),
     ("\u05e9\u05e8\u05d4\u200f", True), ("Ann \u2067\u05e9\u2069", False),
     ("Ann \u2067", False)],
)
def test_display_name(name: str, ok: bool) -> None:
    assert (display_name_problem(name) is None) is ok


@pytest.mark.parametrize(
    ("bio", "ok"),
    [("", True), ("b" * 500, True), ("b" * 501, False), ("two\nlines", True), ("nul\x00", False)],
)
def test_bio(bio: str, ok: bool) -> None:
    assert (bio_problem(bio) is None) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("", True),
        ("https://cdn.example.com/a.png", True),
        ("http://cdn.example.com/a.png", False),
        ("javascript:alert(1)", False),
        ("https:///a.png", False),
        ("//cdn.example.com/a.png", False),
        ("cdn.example.com/a.png", False),
        ("https://e.com/" + "a" * (MAX_AVATAR_URL - len("https://e.com/")), True),
        ("https://e.com/" + "a" * (MAX_AVATAR_URL + 1 - len("https://e.com/")), False),
    ],
)
def test_avatar_url(url: str, ok: bool) -> None:
    assert (avatar_url_problem(url) is None) is ok
