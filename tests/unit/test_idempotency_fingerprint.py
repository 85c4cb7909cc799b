"""The idempotency fingerprint of a multipart body: the boundary fixed without copying
the body, the same digest on and off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from infra.http.idempotency import OFF_LOOP_BYTES, fingerprint, fingerprint_off_loop


def scope(content_type: bytes | None) -> dict[str, object]:
    headers = [(b"content-type", content_type)] if content_type is not None else []
    return {"method": "POST", "path": "/api/media", "query_string": b"", "headers": headers}


def replaced(body: bytes, boundary: bytes) -> str:
    """The fingerprint as first defined: the whole body with the boundary replaced."""
    digest = hashlib.sha256(b"POST\n/api/media\n\n")
    digest.update(body.replace(b"--" + boundary, b"--roost-boundary"))
    return digest.hexdigest()


@pytest.mark.parametrize("body", [
    b"",
    b"--xyz",
    b"--xyz--xyz",
    b"a--xyz\r\n--xy--xyzz--xyz--",
    b"no delimiter at all",
    b"--xyz\r\n" + os.urandom(3 * OFF_LOOP_BYTES) + b"\r\n--xyz--\r\n",
])
def test_the_multipart_fingerprint_is_the_body_with_its_boundary_replaced(body):
    assert fingerprint(scope(b"multipart/form-data; boundary=xyz"), body) == \
        replaced(body, b"xyz")


def test_a_body_without_a_multipart_boundary_is_hashed_as_it_is():
    body = b"--xyz" * 10
    expected = hashlib.sha256(b"POST\n/api/media\n\n" + body).hexdigest()
    assert fingerprint(scope(b"application/json"), body) == expected
    assert fingerprint(scope(None), body) == expected


@pytest.mark.parametrize("size", [10, OFF_LOOP_BYTES - 1, OFF_LOOP_BYTES, 5 * OFF_LOOP_BYTES])
def test_off_the_loop_or_on_it_the_fingerprint_is_the_same(size):
    body = b"--b1\r\n" + os.urandom(size) + b"\r\n--b1--\r\n"
    request = scope(b"multipart/form-data; boundary=b1")
    in_two_chunks = [body[:7], body[7:]]
    assert asyncio.run(fingerprint_off_loop(request, in_two_chunks)) == \
        fingerprint(request, body)


def test_a_retried_large_upload_with_another_boundary_has_the_same_fingerprint():
    content = os.urandom(2 * OFF_LOOP_BYTES)

    def sent(boundary: bytes) -> str:
        body = b"--" + boundary + b"\r\n" + content + b"\r\n--" + boundary + b"--\r\n"
        return asyncio.run(fingerprint_off_loop(
            scope(b"multipart/form-data; boundary=" + boundary),
            [body[i:i + 65536] for i in range(0, len(body), 65536)]))

    assert sent(b"first-1111") == sent(b"second-2222")
