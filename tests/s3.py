"""An S3-compatible server for tests: moto's server mode (the S3 protocol over HTTP) in a
thread of the test process, on a free local port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

from infra.media_store import S3MediaStore


@contextmanager
def s3_server() -> Iterator[str]:
    """Start a server on 127.0.0.1 and a free port; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


async def s3_store(endpoint: str, *, prefix: str = "media/") -> S3MediaStore:
    """A store on a new bucket of the server at ``endpoint``."""
    store = S3MediaStore(f"roost-test-{uuid.uuid4().hex[:12]}", endpoint_url=endpoint,
                         prefix=prefix, access_key_id="test", secret_access_key="test",
                         region="us-east-1")
    await store.create_bucket()
    return store
