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
    assert str(inspect.signature(patch.ORIGINAL_PROC_FETCH)) == patch.PATCHED_SIGNATURE, \
        RECHECK
    assert patch.ORIGINAL_PROC_FETCH.__qualname__ == "Fetcher._proc_fetch_request", RECHECK


@pytest.mark.parametrize("name", sorted(patch.SOURCE_SHA256))
def test_the_code_the_patch_leans_on_is_unchanged(name: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Fetcher, "_proc_fetch_request", patch.ORIGINAL_PROC_FETCH)
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


def test_the_patch_installs_a_wrapper_of_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Fetcher, "_proc_fetch_request", Fetcher._proc_fetch_request)
    patch.pause_empty_fetches(0.05)
    installed = Fetcher._proc_fetch_request
    assert installed is not patch.ORIGINAL_PROC_FETCH
    assert installed.__qualname__.startswith("pausing_when_empty.")


class QuickFetcher:
    """What the wrapper reads of a ``Fetcher``: the wait it asked the broker for."""

    _fetch_max_wait_ms = 500


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def _empty(fetcher: object, *args: object) -> bool:
    return False


async def _records(fetcher: object, *args: object) -> bool:
    return True


async def test_an_empty_answer_at_once_is_followed_by_the_pause() -> None:
    sleeps = Sleeps()
    wrapped = patch.pausing_when_empty(_empty, 0.05, sleeps)
    assert await wrapped(QuickFetcher(), "assignment", 1, "request") is False
    assert sleeps == [0.05]


async def test_records_are_not_followed_by_a_pause() -> None:
    sleeps = Sleeps()
    wrapped = patch.pausing_when_empty(_records, 0.05, sleeps)
    assert await wrapped(QuickFetcher(), "assignment", 1, "request") is True
    assert sleeps == []


@pytest.mark.parametrize("pause_s", [0.0, -1.0])
async def test_no_pause_or_a_negative_one_turns_it_off(pause_s: float) -> None:
    sleeps = Sleeps()
    wrapped = patch.pausing_when_empty(_empty, pause_s, sleeps)
    assert await wrapped(QuickFetcher(), "assignment", 1, "request") is False
    assert sleeps == []
