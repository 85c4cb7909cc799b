"""Every line every part writes is one JSON object: Roost's own events, and what
uvicorn, Faust, aiokafka and the Elasticsearch client log through ``logging``."""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlparse

import httpx
import orjson

from tests.e2e.conftest import User
from tests.e2e.stack import PARTS, Stack


def _send_garbage(base_url: str) -> None:
    """A request uvicorn's parser refuses itself (it logs ``Invalid HTTP request``)."""
    url = urlparse(base_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), 5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: \x00\r\n\r\n")
        raw.recv(4096)


def test_every_log_line_of_every_part_is_json(
    stack: Stack, client: httpx.Client, signup: Callable[..., User]
) -> None:
    user = signup("logs")
    post, at = user.post("a line in the logs")
    assert user.request("GET", f"/api/posts/{post['id']}", at).status_code == 200
    assert client.get("/health").status_code == 200  # Kafka admin + Elasticsearch client
    _send_garbage(stack.base_url)
    for part in PARTS:
        lines = (stack.log_dir / f"{part}.log").read_text(errors="replace").splitlines()
        assert lines, f"{part} wrote nothing"
        not_json = []
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                not_json.append(line)
                continue
            if not (isinstance(record, dict) and "event" in record and "level" in record):
                not_json.append(line)
        assert not not_json, f"{part}: {len(not_json)} lines are not JSON events: " \
            + "\n".join(not_json[:10])


def test_the_api_process_freezes_its_startup_heap(stack: Stack) -> None:
    """The server process, not only in-process apps, takes infra.heap's freeze."""
    lines = (stack.log_dir / "api.log").read_text(errors="replace").splitlines()
    frozen = [orjson.loads(line) for line in lines if '"heap.frozen"' in line]
    assert frozen and all(record["objects"] > 50_000 for record in frozen), frozen
