"""A tag path segment and the stored tag it names (``queries.tags.normalise_tag``)."""

from __future__ import annotations

import pytest

from domain.text import MAX_TAG_CHARS
from queries import tags
from queries.tags import MAX_TAG_SEGMENT, normalise_tag


def test_a_tag_in_any_case_and_form_names_its_stored_form() -> None:
    assert normalise_tag("Roost") == "roost"
    assert normalise_tag("#Roost") == "roost"
    assert normalise_tag("cafe\u0301") == "caf\u00e9"  # NFC
    assert normalise_tag("x" * MAX_TAG_CHARS) == "x" * MAX_TAG_CHARS


def test_what_no_post_can_carry_names_nothing() -> None:
    assert normalise_tag("x" * (MAX_TAG_CHARS + 1)) is None
    assert normalise_tag("123") is None
    assert normalise_tag("a b") is None


def test_a_long_segment_is_refused_without_being_read(monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    """The longest (decomposed) form of a tag still names it; a 32 KB segment (the most a
    request head holds) is answered at once, never scanned on the event loop."""
    decomposed = "e\u0301" * MAX_TAG_CHARS
    assert len(decomposed) < MAX_TAG_SEGMENT and normalise_tag(decomposed) == "\u00e9" * 100
    scanned: list[int] = []

    def extract(text: str) -> list[str]:
        scanned.append(len(text))
        return []

    monkeypatch.setattr(tags, "extract_hashtags", extract)
    assert normalise_tag("x" * 32_000) is None
    assert normalise_tag("x" * (MAX_TAG_SEGMENT + 1)) is None
    assert scanned == []
