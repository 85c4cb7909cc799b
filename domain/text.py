"""Post text rules: normalisation, length, mentions and hashtags."""

from __future__ import annotations

import re
import unicodedata

MAX_POST_CHARS = 280

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,30})(?![A-Za-z0-9_@])")
HASHTAG = re.compile(r"(?<![\w#&])#(\w{1,100})", re.UNICODE)


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


def extract_hashtags(text: str) -> list[str]:
    """Lower-cased ``#tags`` (letters, digits, ``_``; not all digits), deduplicated."""
    tags: dict[str, None] = {}
    for match in HASHTAG.finditer(text):
        tag = match.group(1).lower()
        if not tag.isdigit():
            tags.setdefault(tag, None)
    return list(tags)
