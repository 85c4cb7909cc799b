"""The stream worker writes nothing but log lines: Faust's terminal spinner, which
``faust.Worker`` keeps at log levels from WARNING up, is off (its cursor codes,
``ESC[?25l``..., would prefix a JSON log line)."""

from __future__ import annotations

import pytest

from infra.runners import faust_worker
from streams.faust_app import create_faust_app
from tests.conftest import make_settings


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR"])
def test_the_faust_worker_has_no_spinner(level: str) -> None:
    settings = make_settings(log_level=level)
    assert faust_worker(create_faust_app(settings), settings).spinner is None
