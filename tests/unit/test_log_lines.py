"""Log lines of several processes sharing one pipe stay whole lines.

``roost up`` and container runtimes collect every part's stderr through one pipe;
a logger that writes a record and its newline in two writes lets another
process's record land between them (two JSON objects on one line, then an empty
line). Two processes log at once into one pipe here, and every line must parse.
"""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

_LOGGER = """
import sys
from infra.logging import configure_logging
import structlog
configure_logging("INFO", True, sys.argv[1])
log = structlog.get_logger("test")
for n in range(3000):
    log.info("line", n=n, padding="x" * 200)
"""


def test_two_processes_logging_into_one_pipe_write_whole_json_lines() -> None:
    read, write = os.pipe()
    children = [subprocess.Popen([sys.executable, "-c", _LOGGER, name], stderr=write,
                                 stdout=subprocess.DEVNULL) for name in ("first", "second")]
    os.close(write)
    with open(read, "rb") as pipe:
        lines = pipe.read().splitlines()
    for child in children:
        assert child.wait(timeout=60) == 0
    records = [orjson.loads(line) for line in lines]  # raises on a torn line
    assert sorted(r["process"] for r in records) == ["first"] * 3000 + ["second"] * 3000


_CRASHER = """
import sys
from infra.logging import configure_logging
configure_logging("INFO", sys.argv[1] == "json", "worker")
raise RuntimeError("the store is gone")
"""


def test_a_crash_is_one_json_line_with_its_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", _CRASHER, "json"], capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    crash = orjson.loads(lines[0])
    assert (crash["event"], crash["level"], crash["process"]) == (
        "process.crashed", "critical", "worker")
    assert crash["error"] == "RuntimeError('the store is gone')"
    assert "Traceback" in crash["exception"] and "the store is gone" in crash["exception"]


def test_a_crash_with_console_logs_is_python_s_own_traceback() -> None:
    done = subprocess.run([sys.executable, "-c", _CRASHER, "console"], capture_output=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.decode().startswith("Traceback")
