"""Property-based tests of the text rules (Hypothesis): arbitrary Unicode, every class."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.text import (
    MAX_TAG_CHARS,
    TAG_JOINERS,
    extract_hashtags,
    extract_mentions,
    normalise_text,
    post_text_problem,
    text_problem,
)

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)

NONCHARACTERS = frozenset(
    [chr(c) for c in range(0xFDD0, 0xFDF0)]
    + [chr(plane * 0x10000 + low) for plane in range(17) for low in (0xFFFE, 0xFFFF)]
)
REFUSED_SAMPLES = ["\x00", "\x01", "\x1f", "\r", "\x7f", "\x80", "\x85", "\x87", "\x9f",
                   "\ud800", "\udbff", "\udc00", "\udfff", "\ufdd0", "\ufdef", "\ufffe",
                   "\uffff", "\U0001fffe", "\U0010ffff"]

# Every code point Hypothesis can make (surrogates included), plus the refused classes
# and the characters the tag rules care about, so that each is met often.
any_char = st.one_of(
    st.characters(codec=None, categories=None),
    st.sampled_from([*REFUSED_SAMPLES, "\n", "\t", "#", "@", "/", "(", "\u200c", "\u200d",
                                       "\u00b7", " ", "_", "1", "a", "\u0301"]),
)
any_text = st.text(alphabet=any_char, max_size=80)


def oracle_refuses(ch: str, multiline: bool) -> bool:
    """The rule stated independently: Unicode categories Cc and Cs, and noncharacters."""
    category = unicodedata.category(ch)
    if category == "Cc":
        return not (multiline and ch in "\n\t")
    return category == "Cs" or ch in NONCHARACTERS


@PROPERTY
@given(any_text, st.booleans())
def test_text_problem_agrees_with_the_stated_rule(text: str, multiline: bool) -> None:
    refused = any(oracle_refuses(ch, multiline) for ch in text)
    assert (text_problem(text, multiline) is not None) is refused


@PROPERTY
@given(any_text)
def test_an_accepted_post_is_clean_and_normalised_once(text: str) -> None:
    normalised = normalise_text(text)
    if post_text_problem(normalised) is None:
        assert text_problem(normalised, multiline=True) is None
        assert 1 <= len(normalised) <= 280
        assert normalise_text(normalised) == normalised


@PROPERTY
@given(any_text)
def test_every_extracted_tag_is_well_formed_and_present(text: str) -> None:
    lowered = text.lower()
    tags = extract_hashtags(text)
    assert len(tags) == len(set(tags))
    for tag in tags:
        assert tag == tag.lower() and 1 <= len(tag) <= MAX_TAG_CHARS
        assert tag[0] not in TAG_JOINERS and tag[-1] not in TAG_JOINERS
        assert not all(ch.isdigit() or ch in TAG_JOINERS for ch in tag)
        assert all(ch == "_" or ch in TAG_JOINERS or unicodedata.category(ch)[0] in "LNM"
                   for ch in tag)
        assert f"#{tag}" in lowered


@PROPERTY
@given(any_text)
def test_every_mention_is_a_username_that_appears(text: str) -> None:
    for mention in extract_mentions(text):
        assert 1 <= len(mention) <= 30 and mention.isascii()
        assert all(ch.isalnum() or ch == "_" for ch in mention)
        assert f"@{mention}" in text


word = st.text(alphabet=st.characters(categories=["L", "N"]).filter(str.isalnum),
               min_size=1, max_size=20)


@PROPERTY
@given(word, st.sampled_from(["https://example.org/#", "https://example.org/guide/#",
                              "https://video.example/@", "https://x.example/?by=@",
                              "mailto:someone@", "word#", "word@"]))
def test_nothing_starts_inside_a_url_or_a_word(name: str, prefix: str) -> None:
    text = f"see {prefix}{name} now"
    assert extract_hashtags(text) == []
    assert extract_mentions(text) == []


@PROPERTY
@given(word.filter(lambda w: not w.isdigit()))
def test_a_tag_after_whitespace_is_found(name: str) -> None:
    normalised = normalise_text(f"x #{name}")
    assert extract_hashtags(normalised) == [normalised[3:].lower()]
