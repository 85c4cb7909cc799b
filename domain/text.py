"""Text rules: which characters a client may send, post normalisation, mentions, hashtags.

``text_problem`` is the one rule for every text a client sends (JSON fields,
path segments, query parameters, headers): U+0000, the other C0 and C1 control
characters (newline and tab only where ``multiline`` allows them), lone
surrogates and Unicode noncharacters are refused. PostgreSQL ``text`` and
``jsonb`` cannot hold U+0000, and none of these has a place in a profile, a
post or a header.

Mentions and hashtags start only at the start of the text, after whitespace or
after an opening punctuation mark, so a ``#`` or ``@`` inside a URL
(``https://example.org/#top``), an email address or a word starts nothing.
"""

from __future__ import annotations

import re
import unicodedata

MAX_POST_CHARS = 280
MAX_TAG_CHARS = 100

USERNAME_CHARS = re.compile(r"[A-Za-z0-9_]{1,30}")
TAG_JOINERS = frozenset("\u200c\u200d\u00b7")  # ZWNJ, ZWJ, middle dot: inside a tag only
MULTILINE_CONTROLS = frozenset("\n\t")
_OPENING_QUOTES = frozenset("\"'")


def is_noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+xFFFE, U+xFFFF)."""
    code = ord(ch)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def is_control(ch: str) -> bool:
    """C0 (U+0000..U+001F), DEL and C1 (U+007F..U+009F) control characters."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def is_surrogate(ch: str) -> bool:
    """A UTF-16 surrogate code point, which no well-formed text holds on its own."""
    return 0xD800 <= ord(ch) <= 0xDFFF


def char_problem(ch: str, multiline: bool = False) -> str | None:
    """Why ``ch`` may not appear in client text, or ``None`` when it may."""
    if ch == "\x00":
        return "must not contain U+0000"
    if is_control(ch) and not (multiline and ch in MULTILINE_CONTROLS):
        allowed = " (newline and tab are allowed)" if multiline else ""
        return f"must not contain control characters such as U+{ord(ch):04X}{allowed}"
    if is_surrogate(ch):
        return f"must not contain a lone surrogate (U+{ord(ch):04X})"
    if is_noncharacter(ch):
        return f"must not contain the Unicode noncharacter U+{ord(ch):04X}"
    return None


def text_problem(text: str, multiline: bool = False) -> str | None:
    """Why ``text`` may not be accepted from a client, or ``None`` when it may.

    ``multiline`` allows newline and tab (post text and bio). The answer names
    the first offending code point; it never echoes the text itself.
    """
    if text.isascii() and text.isprintable():  # the common case, in C
        return None
    for ch in text:
        if problem := char_problem(ch, multiline):
            return problem
    return None


def normalise_text(text: str) -> str:
    """NFC-normalise and trim; the form in which a client's text (a post, a display
    name, a bio, alt text) is stored and counted."""
    return unicodedata.normalize("NFC", text).strip()



INVISIBLE_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Letters and symbols that render as nothing (the Hangul fillers, the blank braille
pattern), used to post "empty" text; with whitespace and format characters (Cf:
zero-width spaces and joiners, bidi marks, soft hyphens, tag characters) they make a
text blank."""


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only whitespace, format characters (Unicode
    category Cf) and ``INVISIBLE_FILLERS`` (Unicode's Default_Ignorable_Code_Point
    set is mostly the first two)."""
    return all(ch.isspace() or ch in INVISIBLE_FILLERS or unicodedata.category(ch) == "Cf"
               for ch in text)


def post_text_problem(text: str) -> str | None:
    """Why normalised ``text`` cannot be a post, or ``None`` when it can."""
    if problem := text_problem(text, multiline=True):
        return problem
    if is_blank(text):
        return "must contain at least one visible character"
    if len(text) > MAX_POST_CHARS:
        return f"must be at most {MAX_POST_CHARS} characters (got {len(text)})"
    return None


def starts_token(text: str, index: int) -> bool:
    """Whether a ``#`` or ``@`` at ``index`` may start a tag or mention: at the start,
    after whitespace or after an opening punctuation mark (brackets, opening quotes)."""
    if index == 0:
        return True
    before = text[index - 1]
    return before.isspace() or before in _OPENING_QUOTES or \
        unicodedata.category(before) in ("Ps", "Pi")


def extract_mentions(text: str) -> list[str]:
    """``@username`` candidates in order of first appearance, without duplicates
    (case-insensitively); whether they exist is for the command handler.

    A mention is a whole username: ``@alice@example.org`` and a 31-character
    name are not mentions.
    """
    seen: dict[str, str] = {}
    index = 0
    while (index := text.find("@", index)) != -1:
        match = USERNAME_CHARS.match(text, index + 1)
        index += 1
        if match is None or not starts_token(text, index - 1):
            continue
        following = text[match.end():match.end() + 1]
        if following and (following == "@" or _username_char(following)):
            continue
        seen.setdefault(match.group().lower(), match.group())
    return list(seen.values())


def _username_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _tag_char(ch: str) -> bool:
    """Letters, digits and marks of any script (so Hindi or Thai tags stay whole), and ``_``."""
    return ch == "_" or unicodedata.category(ch)[0] in "LNM"


def _tag_end(text: str, start: int) -> int:
    """The end of a tag body starting at ``start``: tag characters, with joiners only
    between them (a trailing joiner is not part of the tag)."""
    end = cursor = start
    while cursor < len(text) and (_tag_char(text[cursor]) or text[cursor] in TAG_JOINERS):
        cursor += 1
        if _tag_char(text[cursor - 1]):
            end = cursor
    return end


def extract_hashtags(text: str) -> list[str]:
    """Lower-cased ``#tags`` in order of first appearance, deduplicated.

    A tag is letters, marks, digits and ``_`` of any script, with U+200C,
    U+200D and U+00B7 allowed inside it; not all digits. A ``#`` counts only
    where ``starts_token`` allows (so ``a#b``, ``&#38;`` and URL fragments are
    not tags); a tag longer than ``MAX_TAG_CHARS`` is not a tag at all rather
    than silently cut short.
    """
    tags: dict[str, None] = {}
    index = 0
    while (index := text.find("#", index)) != -1:
        start = index + 1
        end = _tag_end(text, start) if start < len(text) and _tag_char(text[start]) else start
        tag = text[start:end].lower()
        if tag and starts_token(text, index) and len(tag) <= MAX_TAG_CHARS and \
                not all(ch.isdigit() or ch in TAG_JOINERS for ch in tag):
            tags.setdefault(tag, None)
        index = max(end, index + 1)
    return list(tags)
