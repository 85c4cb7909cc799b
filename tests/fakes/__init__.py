"""In-memory fakes of the ports, for unit tests; each passes its port's contract tests."""
