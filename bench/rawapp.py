"""The trivial FastAPI endpoint: the ceiling of the HTTP layer on this machine.

Served exactly like Roost's API (one uvicorn worker, uvloop, httptools, no
access log), it answers a ~1 KB JSON page, the size of a small timeline
page, with no I/O behind it. Run: ``python -m bench.rawapp PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

PAGE: dict[str, Any] = {
    "items": [
        {"id": str(1_000_000_000_000_000 + i), "text": "a post of about fifty characters #x",
         "author": {"username": f"user{i}"}, "likes_count": i}
        for i in range(8)
    ],
    "next_cursor": None,
}

app = FastAPI()


@app.get("/raw")
async def raw() -> dict[str, Any]:
    return PAGE


def main() -> None:
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
