"""Validated string types for request bodies and query parameters.

Every client string field is one of these types, so the text rule of
``domain.text.text_problem`` (no U+0000, no other C0/C1 controls, no lone
surrogates, no noncharacters) holds before any handler runs. A refused value
is a ``422 validation_failed`` naming the field; the reason never echoes the
value. Field constraints (``max_length``, ``pattern``) are added with
``pydantic.Field`` where the field is declared, so the OpenAPI document states
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, StrictStr

from domain.text import text_problem


def _text_rule(multiline: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if problem := text_problem(value, multiline):
            raise ValueError(problem)
        return value

    return check


CleanText = Annotated[StrictStr, AfterValidator(_text_rule(multiline=False))]
"""One line of text: no control characters at all, no surrogates, no noncharacters."""

MultilineText = Annotated[StrictStr, AfterValidator(_text_rule(multiline=True))]
"""Like ``CleanText`` but newline and tab are allowed (post text, bio)."""
