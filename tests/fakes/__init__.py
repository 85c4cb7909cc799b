"""In-memory fakes of the ports (``ports/``), for tests that need no server."""
