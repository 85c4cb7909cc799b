"""Post text: normalisation, the 280 code point limit, mentions and hashtags."""

from __future__ import annotations

import unicodedata

import pytest

from domain.text import (
    MAX_POST_CHARS,
    extract_hashtags,
    extract_mentions,
    normalise_text,
    post_text_problem,
)

# --- normalisation ----------------------------------------------------------------


def test_normalise_composes_to_nfc_and_trims() -> None:
    decomposed = "  cafe\u0301 \n\t"
    assert normalise_text(decomposed) == "caf\u00e9"
    assert unicodedata.is_normalized("NFC", normalise_text(decomposed))


def test_normalise_trims_unicode_whitespace_but_keeps_inner_whitespace() -> None:
    assert normalise_text("\u3000\u00a0 a  b\u2003\n") == "a  b"


def test_normalise_is_idempotent() -> None:
    once = normalise_text(" A\u030a ngstro\u0308m ")
    assert normalise_text(once) == once == "\u00c5 ngstr\u00f6m"


# --- length ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "\n\t ", "\u3000\u2003"])
def test_whitespace_only_is_refused_after_normalisation(text: str) -> None:
    assert post_text_problem(normalise_text(text)) is not None


@pytest.mark.parametrize("text", ["\u200b", "\u00ad", "\u202e", "\ufeff", "\U000e0001",
                                  " \u200b\u200c\u200d ", "\u3164", "\u115f\u1160",
                                  "\uffa0", "\u2800", "\u2060\n\u200e"])
def test_text_that_shows_nothing_is_refused_like_whitespace(text: str) -> None:
    """Zero-width and bidi marks, soft hyphens, tag characters, Hangul fillers, the
    blank braille pattern: a post of only these looks empty."""
    assert post_text_problem(normalise_text(text)) == \
        "must contain at least one visible character"


@pytest.mark.parametrize("text", ["a\u200b", "\U0001f44d", "\U0001f469\u200d\U0001f4bb",
                                  "\u0627\u200c\u0628", "\u00b7"])
def test_visible_text_with_invisible_characters_in_it_is_kept(text: str) -> None:
    assert post_text_problem(text) is None


def test_exactly_280_code_points_is_allowed_281_is_not() -> None:
    assert post_text_problem("a" * MAX_POST_CHARS) is None
    problem = post_text_problem("a" * (MAX_POST_CHARS + 1))
    assert problem is not None and "281" in problem


def test_limit_counts_code_points_of_the_nfc_form() -> None:
    # 280 decomposed e-acute are 560 code points before normalisation, 280 after.
    text = normalise_text("e\u0301" * MAX_POST_CHARS)
    assert len(text) == MAX_POST_CHARS
    assert post_text_problem(text) is None
    assert post_text_problem(normalise_text("e\u0301" * (MAX_POST_CHARS + 1))) is not None


def test_combining_marks_without_a_precomposed_form_count_separately() -> None:
    # q + combining dot below has no precomposed form: 2 code points each
    text = normalise_text("q\u0323" * 140)
    assert len(text) == 280 and post_text_problem(text) is None
    assert post_text_problem(normalise_text("q\u0323" * 141)) is not None


def test_emoji_count_as_their_code_points() -> None:
    thumbs = "\U0001f44d\U0001f3fd"  # thumbs up + skin tone: 2 code points
    assert post_text_problem(thumbs * 140) is None
    assert post_text_problem(thumbs * 140 + "!") is not None
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points
    assert post_text_problem(family * 56) is None
    assert post_text_problem(family * 57) is not None
    astral = "\U0001f600"  # one code point (two UTF-16 units)
    assert post_text_problem(astral * 280) is None


# --- mentions ----------------------------------------------------------------------


def test_mentions_in_order_of_first_appearance_deduplicated_case_insensitively() -> None:
    text = "hi @Bob and @alice, also @bob and @ALICE again; @carol_1!"
    assert extract_mentions(text) == ["Bob", "alice", "carol_1"]


@pytest.mark.parametrize(
    "text",
    [
        "mail me at bob@example.com",
        "@@bob",
        "caf\u00e9@bob",
        "@",
        "@ bob",
        "@" + "a" * 31,  # longer than a username can be
        "@bob@example.com",
    ],
)
def test_not_mentions(text: str) -> None:
    assert extract_mentions(text) == []


def test_mention_boundaries() -> None:
    assert extract_mentions("(@bob) @carol. @dave's") == ["bob", "carol", "dave"]
    assert extract_mentions("@" + "a" * 30) == ["a" * 30]


# --- hashtags ----------------------------------------------------------------------


def test_hashtags_lowercased_deduplicated_in_order() -> None:
    assert extract_hashtags("#Python is #great, #PYTHON #python3 #great") == [
        "python", "great", "python3",
    ]


@pytest.mark.parametrize("text", ["#2024", "#123 #0", "#\u0661\u0662\u0663", "#\uff11\uff12"])
def test_all_digit_tags_are_not_hashtags(text: str) -> None:
    assert extract_hashtags(text) == []


def test_tags_with_digits_and_underscores_are_kept() -> None:
    assert extract_hashtags("#2024a #a_1 #_x #1_") == ["2024a", "a_1", "_x", "1_"]


def test_unicode_letter_tags() -> None:
    text = normalise_text(
        "#Cafe\u0301 #\u65e5\u672c\u8a9e #\u0627\u0644\u0639\u0631\u0628\u064a\u0629 "
        "#\u00c7A #\u041c\u043e\u0441\u043a\u0432\u0430"
    )
    assert extract_hashtags(text) == [
        "caf\u00e9", "\u65e5\u672c\u8a9e", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
        "\u00e7a", "\u043c\u043e\u0441\u043a\u0432\u0430",
    ]


@pytest.mark.parametrize("text", ["a#tag", "&#123;", "##tag", "# tag", "#", "caf\u00e9#tag"])
def test_not_hashtags(text: str) -> None:
    assert extract_hashtags(text) == []


def test_hashtag_ends_at_punctuation() -> None:
    assert extract_hashtags("(#one), #two! #three's #four-five") == ["one", "two", "three", "four"]


@pytest.mark.parametrize(
    "tag", ["\u0939\u093f\u0928\u094d\u0926\u0940", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35"]
)
def test_tags_with_combining_vowel_signs_are_whole(tag: str) -> None:
    # \w excludes combining marks (Mn/Mc): Hindi and Thai tags must not be cut at the
    # first vowel sign
    assert extract_hashtags(normalise_text(f"#{tag} ok")) == [tag]


def test_a_tag_of_up_to_100_characters_is_kept_and_a_longer_one_is_no_tag() -> None:
    assert extract_hashtags("#" + "a" * 100 + " #ok") == ["a" * 100, "ok"]
    assert extract_hashtags("#" + "b" * 101 + " #ok") == ["ok"]  # not cut short to 100
    assert extract_hashtags("#" + "c" * 150 + "#inner") == []  # '#' inside a word


# --- where a tag or mention may start (API.md, Posts) -------------------------------


@pytest.mark.parametrize("text", [
    "read https://example.org/guide/#install first",
    "see https://example.org/#top",
    "watch https://video.example/@alice",
    "https://example.org/search?by=@alice&tag=#x",
    "mail bob@example.com or a#b",
    "word#tag and word@alice",
    "x.#tag x.@alice x:#tag x:@alice",
])
def test_no_tag_or_mention_inside_urls_emails_or_words(text: str) -> None:
    assert extract_hashtags(text) == []
    assert extract_mentions(text) == []


def test_the_issue_examples() -> None:
    assert extract_hashtags("read https://example.org/guide/#install first #realtag") == \
        ["realtag"]
    assert extract_hashtags("see https://example.org/#top") == []


@pytest.mark.parametrize("text", ["#tag @alice", "(#tag @alice)", "[#tag [@alice",
                                  "{#tag {@alice", "\u00ab#tag \u00ab@alice",
                                  "\u201c#tag \u201c@alice", '"#tag "@alice', "'#tag '@alice",
                                  "\u3010#tag \u3010@alice", "a\n#tag\t@alice"])
def test_tags_and_mentions_start_after_whitespace_or_opening_punctuation(text: str) -> None:
    assert extract_hashtags(text) == ["tag"]
    assert extract_mentions(text) == ["alice"]


def test_joiners_inside_a_tag_keep_it_whole() -> None:
    persian = "\u0646\u0631\u0645\u200c\u0627\u0641\u0632\u0627\u0631"  # نرم‌افزار
    assert extract_hashtags(f"#{persian} ok") == [persian]
    assert extract_hashtags("#Roost\u00b7Dev") == ["roost\u00b7dev"]
    emoji_free_zwj = "a\u200db"
    assert extract_hashtags(f"#{emoji_free_zwj}") == [emoji_free_zwj]


def test_joiners_are_not_tag_ends_or_starts() -> None:
    assert extract_hashtags("#roost\u00b7 next") == ["roost"]
    assert extract_hashtags("#roost\u200c\u200c") == ["roost"]
    assert extract_hashtags("#\u200croost #\u00b7dev") == []
    assert extract_hashtags("#1\u00b72") == []  # still all digits


def test_hashtags_end_at_a_url_like_continuation() -> None:
    assert extract_hashtags("#tag/path #tag2?x") == ["tag", "tag2"]
