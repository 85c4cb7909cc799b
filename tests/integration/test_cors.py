"""Cross-origin browser clients (``ROOST_CORS_ORIGINS``, ``infra/http/cors.py``): an
allowed origin's preflight is answered and every answer it gets, errors included,
names it and exposes the contract's headers; any other origin's preflight is a 403 in
the error format; with no origins set, nothing changes (a preflight is 405)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.http.cors import EXPOSE_HEADERS, parse_origins
from tests.conftest import make_settings
from tests.integration.apphost import running_app, sign_up
from tests.integration.conftest import SettingsFactory

APP = "https://app.example.org"


def preflight(origin: str, method: str = "POST",
              headers: str = "authorization, content-type, idempotency-key") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}


async def test_an_allowed_origin_calls_the_api(settings_factory: SettingsFactory) -> None:
    async with running_app(settings_factory(cors_origins=f"{APP}, https://admin.example.org")
                           ) as client:
        answer = await client.options("/api/posts", headers=preflight(APP))
        assert answer.status_code == 204, answer.text
        assert answer.headers["access-control-allow-origin"] == APP
        allowed = {h.strip().lower() for h in
                   answer.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "idempotency-key", "roost-min-position"} <= allowed
        assert "PATCH" in answer.headers["access-control-allow-methods"]

        user = await sign_up(client, "corsy")
        made = await user.request("POST", "/api/posts", json={"text": "from the web"},
                                  headers={"Origin": APP})
        assert made.status_code == 201, made.text
        assert made.headers["access-control-allow-origin"] == APP
        exposed = {h.strip() for h in made.headers["access-control-expose-headers"].split(",")}
        assert set(EXPOSE_HEADERS) <= exposed  # a script can read Roost-Position
        refused = await client.post("/api/posts", json={"text": "no token"},
                                    headers={"Origin": APP})
        assert refused.status_code == 401  # an error a script can read too
        assert refused.headers["access-control-allow-origin"] == APP


@pytest.mark.parametrize(("origin", "method", "headers"), [
    ("https://evil.example", "POST", "authorization"),  # an origin not listed
    (APP, "PUT", "authorization"),  # a method Roost has no route for
    (APP, "POST", "x-secret"),  # a header Roost does not read
])
async def test_a_refused_preflight_is_403_in_the_error_format(
        settings_factory: SettingsFactory, origin: str, method: str, headers: str) -> None:
    async with running_app(settings_factory(cors_origins=APP)) as client:
        answer = await client.options("/api/posts", headers=preflight(origin, method, headers))
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "cors_refused"
        other = await client.get("/api/rate_limits", headers={"Origin": origin})
        if origin != APP:  # a simple request is served; the browser keeps it from the script
            assert "access-control-allow-origin" not in other.headers


async def test_without_origins_nothing_is_cross_origin(settings_factory: SettingsFactory) -> None:
    async with running_app(settings_factory()) as client:
        answer = await client.options("/api/posts", headers=preflight(APP))
        assert answer.status_code == 405
        assert answer.json()["error"]["code"] == "method_not_allowed"
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("text", ["app.example.org", "https://app.example.org/",
                                  "https://app.example.org/x", "ftp://app.example.org",
                                  "https://", "https://a.example:port"])
def test_a_setting_that_names_no_origin_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        parse_origins(text)


def test_settings_refuse_an_origin_list_that_is_not_one() -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        make_settings(cors_origins="https://ok.example, app.example.org")


def test_origins_and_the_wildcard_parse() -> None:
    assert parse_origins("") == []
    assert parse_origins(" * ") == ["*"]
    assert parse_origins("https://a.example, http://localhost:5173") == [
        "https://a.example", "http://localhost:5173"]
