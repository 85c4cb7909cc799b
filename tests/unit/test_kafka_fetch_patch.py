"""The aiokafka patch still fits the installed aiokafka.

``infra.kafka_fetch_patch`` replaces a private ``Fetcher`` method; these tests
fail when aiokafka changes under it (a new version, a new signature, a changed
body of the method or of the fetch loop calling it), so an upgrade cannot
silently break or mis-time every consumer in the process.
"""

from __future__ import annotations

import hashlib
import inspect
from importlib.metadata import version

import pytest
from aiokafka.consumer.fetcher import Fetcher

from infra import kafka_fetch_patch as patch

RECHECK = ("aiokafka changed under infra/kafka_fetch_patch.py: re-check that the "
           "empty-fetch pause still wraps the fetch correctly (what the method returns, how "
           "the fetch loop cancels it), run tests/integration/test_kafka_fetch.py, then "
           "update the pins in that module")


def source_sha256(name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(Fetcher, name)).encode()).hexdigest()


def test_written_for_the_installed_version() -> None:
    assert version("aiokafka") == patch.WRITTEN_FOR_AIOKAFKA, RECHECK


def test_the_patched_method_keeps_its_signature() -> None:
    # The original, kept by the patch: Fetcher's own attribute may already be the wrapper.
    assert str(inspect.signature(patch._original_proc_fetch)) == patch.PATCHED_SIGNATURE, \
        RECHECK
    assert patch._original_proc_fetch.__qualname__ == "Fetcher._proc_fetch_request", RECHECK


@pytest.mark.parametrize("name", sorted(patch.SOURCE_SHA256))
def test_the_code_the_patch_leans_on_is_unchanged(name: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Fetcher, "_proc_fetch_request", patch._original_proc_fetch)
    assert source_sha256(name) == patch.SOURCE_SHA256[name], RECHECK


@pytest.mark.parametrize("attribute", patch.FETCHER_ATTRIBUTES)
def test_the_attributes_it_reads_are_still_set(attribute: str) -> None:
    assert f"self.{attribute} =" in inspect.getsource(Fetcher.__init__), RECHECK


def test_a_changed_source_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def _proc_fetch_request(self: Fetcher, assignment: object, node_id: int,
                                  request: object) -> bool:
        return True

    monkeypatch.setattr(Fetcher, "_proc_fetch_request", _proc_fetch_request)
    assert source_sha256("_proc_fetch_request") != patch.SOURCE_SHA256["_proc_fetch_request"]


def test_the_patch_installs_the_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Fetcher, "_proc_fetch_request", Fetcher._proc_fetch_request)
    monkeypatch.setattr(patch, "_pause_s", patch._pause_s)
    patch.pause_empty_fetches(-1.0)
    assert Fetcher._proc_fetch_request is patch._proc_fetch_pausing_when_empty
    assert patch._pause_s == 0.0  # negative turns it off
