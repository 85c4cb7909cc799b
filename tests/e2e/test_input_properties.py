"""Property-based tier (Hypothesis) against the e2e stack: arbitrary Unicode, including
every refused class, through each command's HTTP route.

For every value the answer is a 4xx in the error format, or the value is stored
and reads back equal (post text NFC-normalised and trimmed, as API.md says);
never a 5xx. Examples are bounded and derandomized so the tier is quick and
repeatable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.text import normalise_text
from tests.e2e.conftest import User, position, unique_name
from tests.e2e.stack import Stack
from tests.text_samples import REFUSED

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

any_char = st.one_of(
    st.characters(codec=None, categories=None),  # every category Hypothesis knows
    st.characters(categories=["Cs"]),  # lone surrogates, which the default leaves out
    st.sampled_from([*REFUSED.values(), "\n", "\t", " ", "#", "@", "\u0301", "\u200d"]),
)
any_text = st.text(alphabet=any_char, max_size=60)


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def member(http: httpx.Client) -> User:
    name = unique_name("prop")
    user = User(http, name, "correct horse battery")
    created = http.post("/api/accounts", json={
        "username": name, "email": f"{name}@example.com", "password": user.password})
    assert created.status_code == 201, created.text
    user.id = created.json()["id"]
    login = http.post("/api/sessions", json={"login": name, "password": user.password})
    user.token = login.json()["access_token"]
    return user


def send(client: httpx.Client, method: str, path: str, body: dict[str, Any],
         headers: dict[str, str] | None = None) -> httpx.Response:
    """JSON with non-ASCII escaped, so that lone surrogates can travel."""
    return client.request(method, path, content=json.dumps(body).encode(),
                          headers={"Content-Type": "application/json", **(headers or {})})


def assert_refused_or(response: httpx.Response, *ok: int) -> bool:
    """True when the answer is one of ``ok``; otherwise it must be an error-format 4xx."""
    if response.status_code in ok:
        event("accepted")
        return True
    event(f"refused {response.status_code}")
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and isinstance(error["details"], dict)
    return False


@PROPERTY
@given(text=any_text)
def test_post_text(member: User, text: str) -> None:
    response = send(member.client, "POST", "/api/posts", {"text": text}, member.auth)
    if assert_refused_or(response, 201):
        assert response.json()["text"] == normalise_text(text)
        read = member.request("GET", f"/api/posts/{response.json()['id']}",
                              min_position=position(response))
        assert read.status_code == 200 and read.json()["text"] == normalise_text(text)
        # ... and through the timelines projector: first in the author's home timeline.
        home = member.home(position(response), limit=1)
        assert home.status_code == 200 and home.headers.get("Roost-Stale") is None
        [first] = home.json()["items"]
        assert (first["id"], first["text"]) == (response.json()["id"], normalise_text(text))


@PROPERTY
@given(field=st.sampled_from(["display_name", "bio", "avatar_url"]), value=any_text)
def test_profile_patch(member: User, field: str, value: str) -> None:
    if field == "avatar_url":
        value = f"https://example.com/{value}"
    response = send(member.client, "PATCH", "/api/accounts/me", {field: value}, member.auth)
    if assert_refused_or(response, 200):
        assert response.json()[field] == value
        read = member.request("GET", f"/api/accounts/{member.username}",
                              min_position=position(response))
        assert read.status_code == 200 and read.json()[field] == value


@PROPERTY
@given(field=st.sampled_from(["username", "email", "password", "display_name"]),
       value=any_text)
def test_sign_up(http: httpx.Client, field: str, value: str) -> None:
    name = unique_name("sp")
    body = {"username": name, "email": f"{name}@example.com", "password": "long enough",
            "display_name": "Someone"}
    body[field] = value if field != "email" else f"{value}@example.com"
    response = send(http, "POST", "/api/accounts", body)
    if assert_refused_or(response, 201):
        created = response.json()
        assert created["display_name"] == body["display_name"]
        read = http.get(f"/api/accounts/{created['username']}",
                        headers={"Roost-Min-Position": str(position(response))})
        assert read.status_code == 200
        assert read.json()["display_name"] == body["display_name"]


@settings(PROPERTY, max_examples=30)
@given(login=any_text, password=any_text)
def test_login(http: httpx.Client, login: str, password: str) -> None:
    response = send(http, "POST", "/api/sessions", {"login": login, "password": password})
    assert not assert_refused_or(response)  # nobody has these credentials: always a 4xx


@PROPERTY
@given(segment=any_text.filter(bool))
def test_follow_and_profile_paths(member: User, segment: str) -> None:
    quoted = quote_from_bytes(segment.encode("utf-8", "surrogatepass"), safe="")
    follow = member.request("POST", f"/api/accounts/{quoted}/follow")
    assert_refused_or(follow, 200)
    profile = member.client.get(f"/api/accounts/{quoted}")
    if assert_refused_or(profile, 200):
        assert profile.json()["username"].lower() == segment.lower()
