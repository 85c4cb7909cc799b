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
from typing import Annotated, Any

from pydantic import AfterValidator, GetJsonSchemaHandler, StrictStr
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from domain.text import is_blank, text_problem

# The code points ``text_problem`` refuses, as a regular-expression class body, so
# the OpenAPI document states the rule (tests/unit/test_text_schema.py checks the
# two agree on every code point). Lone surrogates are left out: no JSON text a
# client can send decodes to one (the JSON parser refuses them first).
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
REFUSED_ONE_LINE = "\x00-\x1f\x7f-\x9f" + _NONCHARACTERS
REFUSED_MULTILINE = "\x00-\x08\x0b-\x1f\x7f-\x9f" + _NONCHARACTERS
ONE_LINE_PATTERN = f"^[^{REFUSED_ONE_LINE}]*$"
MULTILINE_PATTERN = f"^[^{REFUSED_MULTILINE}]*$"


def _class_of(chars: list[int]) -> str:
    """Code points as a regular-expression class body of ranges."""
    body, start = [], None
    for index, cp in enumerate(chars):
        if start is None:
            start = cp
        if index + 1 == len(chars) or chars[index + 1] != cp + 1:
            body.append(chr(start) if start == cp else f"{chr(start)}-{chr(cp)}")
            start = None
    return "".join(body)


INVISIBLE = _class_of([cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
                       and not chr(cp).isspace() and is_blank(chr(cp))])
"""What ``domain.text.is_blank`` counts as showing nothing besides whitespace (format
characters, invisible fillers), as a class body."""
SOME_TEXT_PATTERN = (f"^[^{REFUSED_MULTILINE}]*[^{REFUSED_MULTILINE}{INVISIBLE}\\s]"
                     f"[^{REFUSED_MULTILINE}]*$")
"""Multiline text with at least one visible character: neither whitespace nor a
format character nor an invisible filler (post text)."""


class SchemaPattern:
    """Gives a string type's JSON schema a ``pattern``: documentation only, the
    validators enforce the rule. By default a pattern the field declares itself (a
    username's, say) stays; ``narrows=True`` replaces the generic text pattern of
    the type it wraps with a narrower one (an id's digits)."""

    def __init__(self, pattern: str, narrows: bool = False) -> None:
        self.pattern = pattern
        self.narrows = narrows

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema: dict[str, Any] = handler(core_schema)
        if self.narrows:
            schema["pattern"] = self.pattern
        else:
            schema.setdefault("pattern", self.pattern)
        return schema


def _text_rule(multiline: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if problem := text_problem(value, multiline):
            raise ValueError(problem)
        return value

    return check


CleanText = Annotated[StrictStr, AfterValidator(_text_rule(multiline=False)),
                      SchemaPattern(ONE_LINE_PATTERN)]
"""One line of text: no control characters at all, no surrogates, no noncharacters."""

MultilineText = Annotated[StrictStr, AfterValidator(_text_rule(multiline=True)),
                          SchemaPattern(MULTILINE_PATTERN)]
"""Like ``CleanText`` but newline and tab are allowed (post text, bio)."""
