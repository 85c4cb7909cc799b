"""The search box grammar: what a user types, as structured conditions. Pure; never raises.

    query    = { blank | term }
    term     = phrase | operator | tag | word
    phrase   = '"' { any character but '"' } '"'
    operator = ( "from:" username | "before:" day | "after:" day )   (any case)
    tag      = '#' tag body (the post text rule of ``domain.text.extract_hashtags``)
    word     = any other run of characters up to a blank
    username = [@] 1-30 of A-Z a-z 0-9 _          day = YYYY-MM-DD (a real date)

* Words must all appear (each may match through its stem); a phrase must appear
  word for word; every tag must be on the post; ``from:`` names the author (several
  ``from:`` mean any of them); ``before:D`` is before day D (UTC), ``after:D`` is
  after the whole day D; several of one kind keep the narrowest.
* Anything the grammar cannot read is searched as plain words: an unclosed quote
  is dropped and what follows it read as terms; ``from:`` with no valid username,
  ``before:`` with no real date, and ``#`` with no tag body are words. A word with
  no letter or digit (``-``, ``!!``) is dropped. At most ``MAX_TERMS`` of each kind
  are kept, so a long query costs a bounded search.
* The text is NFC-normalised first, as post text is.

The result holds values only; the search adapter puts each value in a
``match`` / ``match_phrase`` / ``term`` / ``range`` clause. Nothing the user
types is ever read as query-language syntax.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from domain.accounts import USERNAME
from domain.text import extract_hashtags
from ports.search import PostSearch

MAX_TERMS = 32
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_empty(search: PostSearch) -> bool:
    """Nothing to search by (a query of blanks and punctuation)."""
    return not (search.words or search.phrases or search.tags or search.authors
                or search.on_or_after or search.before)


@dataclass
class _Terms:
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    on_or_after: date | None = None
    before: date | None = None

    def add(self, kind: list[str], value: str) -> None:
        if len(kind) < MAX_TERMS and value not in kind:
            kind.append(value)


def has_word_character(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit of any script."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def _day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _operator(terms: _Terms, token: str) -> bool:
    """Read ``token`` as ``from:`` / ``before:`` / ``after:``; False if it is not one."""
    name, colon, value = token.partition(":")
    if not colon:
        return False
    match name.lower():
        case "from":
            username = value.removeprefix("@")
            if not USERNAME.fullmatch(username):
                return False
            terms.add(terms.authors, username.lower())
        case "before":
            day = _day(value)
            if day is None:
                return False
            terms.before = day if terms.before is None else min(terms.before, day)
        case "after":
            day = _day(value)
            if day is None:
                return False
            start = day + timedelta(days=1) if day < date.max else date.max
            terms.on_or_after = start if terms.on_or_after is None \
                else max(terms.on_or_after, start)
        case _:
            return False
    return True


def _term(terms: _Terms, token: str) -> None:
    if _operator(terms, token):
        return
    if token.startswith("#"):
        tags = extract_hashtags(token)
        if tags:
            terms.add(terms.tags, tags[0])
            return
    if has_word_character(token):
        terms.add(terms.words, token)


def parse(query: str) -> PostSearch:
    """The conditions ``query`` states (see the module), as a search with every other
    field at its default; any text parses."""
    text = unicodedata.normalize("NFC", query)
    terms = _Terms()
    index, end = 0, len(text)
    while index < end:
        if text[index].isspace():
            index += 1
            continue
        if text[index] == '"':
            closing = text.find('"', index + 1)
            if closing == -1:  # unclosed: drop the quote, read on
                index += 1
                continue
            phrase = " ".join(text[index + 1:closing].split())
            if has_word_character(phrase):
                terms.add(terms.phrases, phrase)
            index = closing + 1
            continue
        start = index
        while index < end and not text[index].isspace():
            index += 1
        _term(terms, text[start:index])
    return PostSearch(words=tuple(terms.words), phrases=tuple(terms.phrases),
                      tags=tuple(terms.tags), authors=tuple(terms.authors),
                      on_or_after=terms.on_or_after, before=terms.before)


def plain_words(query: str) -> PostSearch:
    """``query`` read as words only (the fallback when a structured search is refused)."""
    words = [w for w in unicodedata.normalize("NFC", query).replace('"', " ").split()
             if has_word_character(w)]
    return PostSearch(words=tuple(dict.fromkeys(words))[:MAX_TERMS])
