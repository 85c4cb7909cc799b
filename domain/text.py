"""Post text rules: normalisation, length, mentions and hashtags."""

from __future__ import annotations

import re
import unicodedata

MAX_POST_CHARS = 280

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,30})(?![A-Za-z0-9_@])")
MAX_TAG_CHARS = 100


def normalise_post_text(text: str) -> str:
    """NFC-normalise and trim; the form in which text is stored and counted."""
    return unicodedata.normalize("NFC", text).strip()


def post_text_problem(text: str) -> str | None:
    """Why normalised ``text`` cannot be a post, or ``None`` when it can."""
    if not text:
        return "must contain at least one non-whitespace character"
    if len(text) > MAX_POST_CHARS:
        return f"must be at most {MAX_POST_CHARS} characters (got {len(text)})"
    return None


def extract_mentions(text: str) -> list[str]:
    """``@username`` candidates in order of first appearance, without duplicates
    (case-insensitively); whether they exist is for the command handler."""
    seen: dict[str, str] = {}
    for match in MENTION.finditer(text):
        seen.setdefault(match.group(1).lower(), match.group(1))
    return list(seen.values())


def _tag_char(ch: str) -> bool:
    """Letters, digits and marks of any script (so Hindi or Thai tags stay whole), and ``_``."""
    return ch == "_" or unicodedata.category(ch)[0] in "LNM"


def extract_hashtags(text: str) -> list[str]:
    """Lower-cased ``#tags`` (letters, digits, ``_``; not all digits), deduplicated.

    A ``#`` counts only at the start or after a character that cannot be part
    of a word (so ``a#b`` and ``&#38;`` are not tags); a tag longer than
    ``MAX_TAG_CHARS`` is not a tag at all rather than silently cut short.
    """
    tags: dict[str, None] = {}
    index = 0
    while (index := text.find("#", index)) != -1:
        start = end = index + 1
        while end < len(text) and _tag_char(text[end]):
            end += 1
        before = text[index - 1] if index else " "
        tag = text[start:end].lower()
        if tag and not tag.isdigit() and len(tag) <= MAX_TAG_CHARS and \
                not (_tag_char(before) or before in "#&"):
            tags.setdefault(tag, None)
        index = max(end, index + 1)
    return list(tags)
