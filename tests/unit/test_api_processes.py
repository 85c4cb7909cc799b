"""What the API's processes share per start (infra/api_processes.py): node slots held
by ``flock``, the per-start directory, and the node-id range check."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from infra.api_processes import DIR_PREFIX, check_node_range, claim_slot, fresh_directory
from tests.conftest import make_settings


def test_each_holder_gets_the_lowest_free_slot_and_a_closed_one_frees_it(
        tmp_path: Path) -> None:
    first, held_first = claim_slot(tmp_path, 3)
    second, held_second = claim_slot(tmp_path, 3)
    third, held_third = claim_slot(tmp_path, 3)
    assert (first, second, third) == (0, 1, 2)
    with pytest.raises(RuntimeError, match="all 3 API process slots"):
        claim_slot(tmp_path, 3)
    held_second.close()  # as the kernel does when the holding process dies
    again, held_again = claim_slot(tmp_path, 3)
    assert again == 1
    for held in (held_first, held_third, held_again):
        held.close()


def test_a_new_start_removes_directories_of_parents_that_are_gone(tmp_path: Path) -> None:
    ended = subprocess.Popen(["true"])  # a pid whose process has ended
    ended.wait()
    stale = tmp_path / f"{DIR_PREFIX}{ended.pid}-abc"
    live = tmp_path / f"{DIR_PREFIX}{os.getpid()}-def"
    unrelated = tmp_path / "something-else"
    for directory in (stale, live, unrelated):
        (directory / "metrics").mkdir(parents=True)
    made = fresh_directory(tmp_path)
    assert made.name.startswith(f"{DIR_PREFIX}{os.getpid()}-")
    assert (made / "metrics").is_dir() and (made / "slots").is_dir()
    assert not list((made / "metrics").iterdir())
    assert not stale.exists()
    assert live.exists() and unrelated.exists()


def test_node_ids_past_1023_are_refused() -> None:
    check_node_range(make_settings(node_id=1020, api_workers=3))  # 1020..1023
    with pytest.raises(ValueError, match="needs Snowflake node ids up to 1024"):
        check_node_range(make_settings(node_id=1021, api_workers=3))
