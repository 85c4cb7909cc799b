"""Reading Server-Sent Events in tests: the lines of a response, as events and comments."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass
class Sse:
    """One event (``event``/``id``/``data``, data parsed as JSON) or one comment."""

    event: str | None = None
    id: str | None = None
    data: Any = None
    comment: str | None = None


class SseParser:
    """Feed it lines (``response.iter_lines()``); it hands back complete items."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> Sse | None:
        if line.startswith(":"):
            return Sse(comment=line[1:].strip())
        if line == "":
            if not self._fields:
                return None
            fields, self._fields = self._fields, {}
            data = fields.get("data")
            return Sse(event=fields.get("event"), id=fields.get("id"),
                       data=orjson.loads(data) if data is not None else None)
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data" and "data" in self._fields:
            value = self._fields["data"] + "\n" + value
        self._fields[name] = value
        return None


def items(lines: Iterable[str]) -> Iterator[Sse]:
    parser = SseParser()
    for line in lines:
        item = parser.feed(line)
        if item is not None:
            yield item
