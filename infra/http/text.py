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

from domain.accounts import BIDI_OVERRIDES
from domain.text import text_problem

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


INVISIBLE = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160"
             "\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u2800\u3164"
             "\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
             "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f")
"""What ``domain.text.is_blank`` counts as showing nothing besides whitespace (format
characters, invisible fillers), as a class body: written out (computing it means
a pass over every code point, ~0.8 s at each start); tests/unit/test_text_schema.py
checks the pattern built from it against the rule on every code point."""
SOME_TEXT_PATTERN = (f"^[^{REFUSED_MULTILINE}]*[^{REFUSED_MULTILINE}{INVISIBLE}\\s]"
                     f"[^{REFUSED_MULTILINE}]*$")
"""Multiline text with at least one visible character: neither whitespace nor a
format character nor an invisible filler (post text)."""
_BIDI_CONTROLS = "".join(sorted(BIDI_OVERRIDES))
DISPLAY_NAME_PATTERN = (f"^(?:[^\\S{REFUSED_ONE_LINE}]*|[^{REFUSED_ONE_LINE}{_BIDI_CONTROLS}]*"
                        f"[^{REFUSED_ONE_LINE}{INVISIBLE}\\s]"
                        f"[^{REFUSED_ONE_LINE}{_BIDI_CONTROLS}]*)$")
"""One line with something visible, or only whitespace (stored as empty), and no
bidirectional control of ``domain.accounts.BIDI_OVERRIDES`` (``display_name_problem``)."""


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
