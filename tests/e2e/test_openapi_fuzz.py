"""Schemathesis against a running stack: every operation of /openapi.json, with
positive and negative data, as a signed-up user.

Fails on any 5xx, on a response that breaks its documented schema (body,
status code, content type, headers), on valid data refused or invalid data
accepted -- and, after the run, on the stack becoming unhealthy or no longer
projecting a plain post. It runs on a stack of its own (own database, Redis
prefix and topic), so whatever the fuzzer writes cannot disturb the other e2e
tests. Bounded: ``MAX_EXAMPLES`` cases per operation and mode, no shrinking.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.conftest import running_stack, stack_settings, unique_name, wait_until
from tests.e2e.stack import Stack

MAX_EXAMPLES = 12
PASSWORD = "correct horse battery"
# Refusals no schema can foresee: the value is well formed, but names nothing
# (a post or medium that does not exist, a cursor this server never issued, a
# language tag of the right shape that the IANA registry does not hold), or a
# file the schema can only call binary is no image Roost takes (judged by content).
STATE_DEPENDENT_CODES = frozenset({"reference_not_found", "invalid_cursor",
                                   "media_not_attachable", "unsupported_media_type",
                                   "image_undecodable", "image_too_large"})


@schemathesis.check
def valid_data_is_accepted(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> bool | None:
    """Schemathesis's positive-data acceptance, except for a 422 whose code says the
    well-formed value named nothing that exists (``STATE_DEPENDENT_CODES``)."""
    if response.status_code in (413, 415, 422):
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code in STATE_DEPENDENT_CODES:
            return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error, response_schema_conformance, status_code_conformance,
    content_type_conformance, response_headers_conformance, valid_data_is_accepted,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def fuzz_stack(noida: dict[str, str], tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Stack]:
    # A generated Roost-Min-Position far ahead must not hold each case for long.
    settings_ = stack_settings(**noida, min_position_wait_s=0.3)
    with running_stack(settings_, tmp_path_factory.mktemp("fuzz-logs")) as running:
        yield running


@pytest.fixture(scope="module")
def fuzz_login(fuzz_stack: Stack) -> str:
    """The username of an account the fuzzer acts as: an admin (``roost accounts
    grant-admin``), so that the admin routes answer their data, not 403."""
    username = unique_name("fuzz")
    response = httpx.post(f"{fuzz_stack.base_url}/api/accounts", json={
        "username": username, "email": f"{username}@example.com", "password": PASSWORD})
    assert response.status_code == 201, response.text
    granted = subprocess.run(
        [sys.executable, "-m", "infra.cli", "accounts", "grant-admin", username],
        env={**os.environ, **fuzz_stack.settings.as_env()}, capture_output=True, timeout=60,
        check=False)
    assert granted.returncode == 0, granted.stdout + granted.stderr
    return username


def fresh_token(stack: Stack, username: str) -> str:
    """A new access token: a case may have logged the previous one out."""
    response = httpx.post(f"{stack.base_url}/api/sessions",
                          json={"login": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _schema() -> schemathesis.BaseSchema:
    """The document the API serves at /openapi.json, built at collection time (the
    stack starts later; the test checks the served one is the same). Loaded this
    way because Schemathesis 4.32.5's ``from_fixture`` fails on pytest 9
    (``Function`` has no ``_nodeid``)."""
    loaded = schemathesis.openapi.from_dict(create_app(make_settings()).openapi())
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES,
        no_shrink=True, deterministic=True,
    )
    # Server-Sent Events and the admin NDJSON stream never end, so a case could only
    # time out: the streams are covered by tests/e2e/test_streaming.py,
    # tests/integration/test_streaming_http.py and tests/integration/test_admin_api.py
    # (which also checks the stream's 422s).
    return loaded.exclude(path_regex=r"^/api/streaming/|^/api/admin/events/stream$")


schema = _schema()


def test_the_served_openapi_is_the_one_fuzzed(fuzz_stack: Stack) -> None:
    served = httpx.get(f"{fuzz_stack.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == create_app(make_settings()).openapi()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case[Any], fuzz_stack: Stack,
                                               fuzz_login: str) -> None:
    headers = {"Authorization": f"Bearer {fresh_token(fuzz_stack, fuzz_login)}"}
    case.call_and_validate(base_url=fuzz_stack.base_url, headers=headers, checks=CHECKS,
                           timeout=15)


def test_stack_is_healthy_and_projecting_after_fuzzing(fuzz_stack: Stack, fuzz_login: str
                                                       ) -> None:
    fuzz_stack.wait_healthy(timeout=30)
    token = fresh_token(fuzz_stack, fuzz_login)
    with httpx.Client(base_url=fuzz_stack.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        created = client.post("/api/posts", json={"text": "after the fuzzing"})
        assert created.status_code == 201, created.text
        post_id = created.json()["id"]

        def projected() -> bool:
            return client.get(f"/api/posts/{post_id}").status_code == 200
        wait_until(projected, timeout=10)
        health = client.get("/health")
        assert health.status_code == 200, health.text
