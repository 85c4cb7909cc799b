"""What a 422 says of a field, as the error handler words pydantic's errors."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Body, FastAPI
from fastapi.testclient import TestClient
from pydantic import AfterValidator, BaseModel, Field

from infra.http.errors import install_error_handlers


def _same(value: str) -> str:
    return value


class Note(BaseModel):
    # a length checked after a validator: pydantic reports it as a collection's "items"
    reason: Annotated[str, AfterValidator(_same), Field(max_length=5, min_length=2)]


def test_a_string_too_long_or_too_short_is_counted_in_characters() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/notes")
    async def note(body: Annotated[Note, Body()]) -> dict[str, str]:
        return {"reason": body.reason}

    client = TestClient(app)
    for text, said in (("abcdefgh", "must be at most 5 characters"),
                       ("a", "must be at least 2 characters")):
        answer = client.post("/notes", content=orjson.dumps({"reason": text}),
                             headers={"content-type": "application/json"})
        assert answer.status_code == 422
        assert answer.json()["error"]["details"]["fields"] == {"reason": said}
