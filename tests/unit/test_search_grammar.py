"""The search box grammar (``queries.search_grammar``): examples, and properties over any
text (Hypothesis): it never raises, what it keeps is bounded and well formed, and a
query written from known terms reads back as those terms."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ports.search import PostSearch
from queries.search_grammar import MAX_TERMS, is_empty, parse, plain_words

PERSIAN_TAG = "\u0646\u0631\u0645\u200c\u0627\u0641\u0632\u0627\u0631"  # one tag, ZWNJ inside


@pytest.mark.parametrize(("query", "expected"), [
    ("red apple", PostSearch(words=("red", "apple"))),
    ('"red apple" pie', PostSearch(words=("pie",), phrases=("red apple",))),
    ("#News #news #Ünï", PostSearch(tags=("news", "ünï"))),
    ("from:Alice FROM:@bob", PostSearch(authors=("alice", "bob"))),
    ("before:2026-03-10 before:2026-04-01", PostSearch(before=date(2026, 3, 10))),
    ("after:2026-03-10 after:2026-01-01", PostSearch(on_or_after=date(2026, 3, 11))),
    ("after:9999-12-31", PostSearch(on_or_after=date(9999, 12, 31))),
    # what the grammar cannot read is searched as words
    ('"unclosed phrase', PostSearch(words=("unclosed", "phrase"))),
    ("from: from:no-such-name before:2026-02-30 after:yesterday",
     PostSearch(words=("from:", "from:no-such-name", "before:2026-02-30",
                        "after:yesterday"))),
    ("# #123 c#", PostSearch(words=("#123", "c#"))),
    ("https://example.org/#top", PostSearch(words=("https://example.org/#top",))),
    ('- !! "" " " ...', PostSearch()),
    ("#tag, and#not", PostSearch(words=("and#not",), tags=("tag",))),
    ('cafe\u0301 "x\ty"', PostSearch(words=("café",), phrases=("x y",))),
    (f"#{PERSIAN_TAG}", PostSearch(tags=(PERSIAN_TAG,))),
])
def test_examples(query: str, expected: PostSearch) -> None:
    assert parse(query) == expected


def test_a_query_of_punctuation_is_empty() -> None:
    assert is_empty(parse("  !! -- ")) and not is_empty(parse("x"))
    assert not is_empty(parse("before:2026-01-01"))


def test_long_queries_keep_a_bounded_number_of_terms() -> None:
    parsed = parse(" ".join(f"w{i} #t{i} from:u{i} \"p {i}\"" for i in range(100)))
    assert len(parsed.words) == len(parsed.tags) == len(parsed.authors) == \
        len(parsed.phrases) == MAX_TERMS


def test_plain_words_reads_everything_as_words() -> None:
    assert plain_words('from:alice "a b" #t !!') == PostSearch(
        words=("from:alice", "a", "b", "#t"))


ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300)
TOKENS = st.sampled_from(['"', "#", "from:", "before:", "after:", "@", " ", "\t", "2026-01-01",
                          "x", "é", "\u0301", "\u200c", ":", "-", "9999-12-31", "0000-00-00"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(ANY_TEXT, st.lists(TOKENS, max_size=40).map("".join)))
def test_any_text_parses_into_bounded_well_formed_terms(query: str) -> None:
    parsed = parse(query)
    for kind in (parsed.words, parsed.phrases, parsed.tags, parsed.authors):
        assert isinstance(kind, tuple) and len(kind) <= MAX_TERMS
        assert len(set(kind)) == len(kind)
        assert all(isinstance(value, str) and value for value in kind)
    assert not any(ch.isspace() for word in parsed.words for ch in word)
    assert not any('"' in phrase for phrase in parsed.phrases)
    assert all(phrase == " ".join(phrase.split()) for phrase in parsed.phrases)
    assert all(tag == tag.lower() and "#" not in tag for tag in parsed.tags)
    assert parse(query) == parsed  # deterministic
    plain = plain_words(query)
    assert len(plain.words) <= MAX_TERMS and not plain.phrases and not plain.tags


WORD = st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True)
TAG = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True).filter(lambda t: t != "_")
USERNAME = st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True)
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))


@settings(max_examples=300, deadline=None)
@given(words=st.lists(WORD, max_size=5, unique=True),
       phrases=st.lists(st.lists(WORD, min_size=1, max_size=3).map(" ".join), max_size=3,
                        unique=True),
       tags=st.lists(TAG, max_size=3, unique=True),
       authors=st.lists(USERNAME, max_size=2, unique_by=str.lower),
       before=st.none() | DAYS, after=st.none() | DAYS, order=st.randoms())
def test_a_query_written_from_terms_reads_back_as_them(
    words: list[str], phrases: list[str], tags: list[str], authors: list[str],
    before: date | None, after: date | None, order: object,
) -> None:
    words = [w for w in words if w.split(":")[0] not in ("from", "before", "after")]
    parts = [*words, *(f'"{p}"' for p in phrases), *(f"#{t}" for t in tags),
             *(f"from:{a}" for a in authors)]
    if before:
        parts.append(f"before:{before.isoformat()}")
    if after:
        parts.append(f"AFTER:{after.isoformat()}")
    order.shuffle(parts)  # type: ignore[attr-defined]
    parsed = parse("  ".join(parts))
    assert sorted(parsed.words) == sorted(words)
    assert sorted(parsed.phrases) == sorted(phrases)
    assert sorted(parsed.tags) == sorted(tags)
    assert sorted(parsed.authors) == sorted(a.lower() for a in authors)
    assert parsed.before == before
    assert parsed.on_or_after == (None if after is None else date.fromordinal(
        after.toordinal() + 1))
