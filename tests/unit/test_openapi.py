"""The OpenAPI document states the constraints the server enforces."""

from __future__ import annotations

from typing import Any

import pytest

from infra.http.app import create_app
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(make_settings()).openapi()  # no lifespan: nothing is connected


def test_public_reads_take_an_optional_token_and_writes_a_required_one(
    spec: dict[str, Any]
) -> None:
    paths = spec["paths"]
    for path in ("/api/posts/{post_id}", "/api/posts/{post_id}/context",
                 "/api/accounts/{username}/posts", "/api/accounts/{username}/followers"):
        assert {} in paths[path]["get"]["security"], path
    for path, method in (("/api/posts", "post"), ("/api/timelines/home", "get"),
                         ("/api/accounts/{username}/follow", "post"),
                         ("/api/accounts/me", "patch")):
        assert paths[path][method]["security"] == [{"HTTPBearer": []}], path


def test_field_constraints(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    sign_up = schemas["SignUp"]["properties"]
    assert sign_up["username"]["maxLength"] == 30
    assert sign_up["username"]["pattern"] == "^[A-Za-z0-9_]{1,30}$"
    assert (sign_up["password"]["minLength"], sign_up["password"]["maxLength"]) == (8, 1024)
    assert sign_up["display_name"]["maxLength"] == 50
    patch = schemas["ProfilePatch"]["properties"]
    assert patch["display_name"]["anyOf"][0]["maxLength"] == 50
    assert patch["bio"]["anyOf"][0]["maxLength"] == 500


def test_path_and_header_parameters(spec: dict[str, Any]) -> None:
    params = {p["name"]: p for p in spec["paths"]["/api/accounts/{username}/posts"]["get"]
              ["parameters"]}
    assert params["username"]["schema"]["pattern"] == "^[A-Za-z0-9_]{1,30}$"
    assert params["limit"]["schema"]["minimum"] == 1
    position = params["Roost-Min-Position"]["schema"]
    assert (position["type"], position["minimum"], position["maximum"]) == \
        ("integer", 0, 2**63 - 1)


def test_notifications_need_a_token_and_state_their_inputs(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    for path, method in (("/api/notifications", "get"), ("/api/notifications/unread_count", "get"),
                         ("/api/notifications/read", "post"),
                         ("/api/notifications/preferences", "get"),
                         ("/api/notifications/preferences", "patch")):
        assert paths[path][method]["security"] == [{"HTTPBearer": []}], path
    types = next(p for p in paths["/api/notifications"]["get"]["parameters"]
                 if p["name"] == "types")["schema"]
    assert types["type"] == "array" and types["items"]["pattern"].startswith("^(follow|like")
    schemas = spec["components"]["schemas"]
    assert schemas["MarkRead"]["anyOf"] == [{"required": ["up_to_id"]}, {"required": ["ids"]}]
    assert schemas["NotificationPreferences"]["properties"]["like"]["enum"] == [
        "everyone", "following", "off"]
