"""The OpenAPI document states the text rule the validators enforce, exactly.

Schemathesis generates "valid" requests from these patterns; if a pattern
allowed a character the rule refuses, valid-looking requests would be refused
(and the document would lie), and if it refused one the rule allows, clients
would be told less than they may send.
"""

from __future__ import annotations

import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.accounts import avatar_url_problem, display_name_problem, normalise_email
from domain.text import normalise_text, post_text_problem, text_problem
from infra.http.schemas import AVATAR_URL_PATTERN, EMAIL_PATTERN
from infra.http.text import (
    DISPLAY_NAME_PATTERN,
    MULTILINE_PATTERN,
    ONE_LINE_PATTERN,
    SOME_TEXT_PATTERN,
)

NOT_SURROGATES = [cp for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]


def test_the_one_line_pattern_refuses_exactly_what_the_rule_refuses() -> None:
    pattern = re.compile(ONE_LINE_PATTERN)
    disagree = [hex(cp) for cp in NOT_SURROGATES
                if bool(pattern.fullmatch(chr(cp))) != (text_problem(chr(cp)) is None)]
    assert disagree == []


def test_the_multiline_pattern_refuses_exactly_what_the_rule_refuses() -> None:
    pattern = re.compile(MULTILINE_PATTERN)
    disagree = [hex(cp) for cp in NOT_SURROGATES
                if bool(pattern.fullmatch(chr(cp))) != (text_problem(chr(cp), True) is None)]
    assert disagree == []


def test_post_text_pattern_needs_something_that_is_not_whitespace() -> None:
    pattern = re.compile(SOME_TEXT_PATTERN)
    assert pattern.fullmatch(" a\n")
    assert pattern.fullmatch("\u00a0x\t")
    for blank in ("", " ", "\n\t ", "\u00a0\u2003", "\u200b", " \u00ad\u202e\ufeff ",
                  "\U000e0001", "\u3164\u2800"):
        assert not pattern.fullmatch(blank), repr(blank)
    assert not pattern.fullmatch("a\x00")


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.from_regex(AVATAR_URL_PATTERN, fullmatch=True))
def test_every_avatar_url_the_document_allows_is_accepted(url: str) -> None:
    assert avatar_url_problem(url) is None, url


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.emails().filter(lambda e: re.search(EMAIL_PATTERN, e) is not None))
def test_every_email_the_document_allows_is_accepted(email: str) -> None:
    normalise_email(email)  # raises ValueError on a refusal


def test_the_email_pattern_names_the_special_use_domains() -> None:
    for refused in ("a@b.test", "a@B.TeSt", "a@localhost", "a@x.onion.", "a@in.valid.arpa"):
        assert not re.search(EMAIL_PATTERN, refused), refused
        try:
            normalise_email(refused)
        except ValueError:
            continue
        raise AssertionError(f"{refused} was accepted")


def test_the_post_text_pattern_takes_exactly_the_single_characters_the_rule_takes() -> None:
    """Schemathesis generates post texts from the pattern: it must not offer one the
    rule refuses (a zero-width space alone), nor miss one it takes."""
    pattern = re.compile(SOME_TEXT_PATTERN)
    disagree = [hex(cp) for cp in NOT_SURROGATES
                if bool(pattern.fullmatch(chr(cp))) != (post_text_problem(chr(cp)) is None)]
    assert disagree == []


def test_the_display_name_pattern_takes_exactly_the_single_characters_the_rule_takes() -> None:
    """Schemathesis generates display names from the pattern: each one it offers must be
    taken once normalised (not a zero-width space alone, no bidi override)."""
    pattern = re.compile(DISPLAY_NAME_PATTERN)
    disagree = [hex(cp) for cp in NOT_SURROGATES
                if bool(pattern.fullmatch(chr(cp))) != (
                    text_problem(chr(cp)) is None
                    and display_name_problem(normalise_text(chr(cp))) is None)]
    assert disagree == []


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.from_regex(DISPLAY_NAME_PATTERN, fullmatch=True).filter(lambda n: len(n) <= 50))
def test_every_display_name_the_document_allows_is_accepted(name: str) -> None:
    assert display_name_problem(normalise_text(name)) is None, repr(name)
