"""``refeed``: a body read ahead is handed to the app in the chunks it came in."""

from __future__ import annotations

import asyncio

from starlette.types import Message

from infra.http.middleware import refeed


def test_the_chunks_come_back_in_order_then_the_original_receive():
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def messages() -> list[Message]:
        replay = refeed([b"ab", b"", b"cd"], receive)
        return [await replay() for _ in range(4)]

    assert asyncio.run(messages()) == [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
        {"type": "http.disconnect"},
    ]


def test_no_chunk_is_one_empty_body():
    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def first() -> Message:
        return await refeed([], receive)()

    assert asyncio.run(first()) == {"type": "http.request", "body": b"", "more_body": False}
