"""Suspension end to end, over HTTP against the whole stack: an admin suspends an
account (``POST /api/admin/accounts/{username}/suspension``); its token is refused, it
cannot sign in or post; the others no longer find it or see its posts anywhere (profile,
search, tag timelines, home, threads, notifications); a non-admin cannot suspend;
``roost accounts unsuspend`` brings all of it back, and the account signs in again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import httpx

from tests.e2e.conftest import User, assert_error, position, unique_name
from tests.e2e.stack import Stack


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.settings.as_env()}
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers.get("Roost-Stale") is None
    return [item["id"] for item in response.json()["items"]]


def test_a_suspended_account_cannot_act_and_nobody_sees_it_until_unsuspended(
        stack: Stack, client: httpx.Client, signup: Callable[..., User]) -> None:
    mark = unique_name("s")  # a word no other test writes
    tag = f"t{mark[-7:]}"
    admin, bob, mallory = signup("sad"), signup("sbo"), signup("sma")
    granted = _cli(stack, "accounts", "grant-admin", admin.username)
    assert granted.returncode == 0, granted.stderr
    bob.follow(mallory)
    spam, _ = mallory.post(f"buy now {mark} #{tag}")
    bobs, _ = bob.post(f"a real post {mark} #{tag}")
    reply, _ = bob.post("no thanks", reply_to_id=spam["id"])
    at = position(mallory.act("POST", f"/api/posts/{bobs['id']}/like"))

    def seen(min_position: int) -> dict[str, object]:
        """What bob (and an anonymous reader) can see of mallory, each read waiting for
        its projections to reach ``min_position``."""
        words = bob.request("GET", "/api/search", min_position, params={"q": mark})
        tagged = bob.request("GET", "/api/search", min_position, params={"q": f"#{tag}"})
        by_her = bob.request("GET", "/api/search", min_position,
                             params={"q": f"from:{mallory.username}"})
        people = client.get("/api/search", params={"q": mallory.username,
                                                   "type": "accounts"},
                            headers={"Roost-Min-Position": str(min_position)})
        notes = bob.request("GET", "/api/notifications", min_position)
        assert notes.status_code == 200, notes.text
        return {
            "profile": client.get(f"/api/accounts/{mallory.username}").status_code,
            "post": bob.request("GET", f"/api/posts/{spam['id']}", min_position).status_code,
            "words": _ids(words), "tag": _ids(tagged), "from": _ids(by_her),
            "accounts": [a["username"] for a in people.json()["items"]],
            "tag_timeline": _ids(bob.request("GET", f"/api/timelines/tag/{tag}",
                                             min_position)),
            "home": _ids(bob.home(min_position, limit=100)),
            "parent_available": bob.request(
                "GET", f"/api/posts/{reply['id']}", min_position).json()[
                    "reply_to_available"],
            "likes": [[a["username"] for a in g["accounts"]] for g in notes.json()["items"]
                      if g["type"] == "like"],
        }

    before = seen(at)
    assert before == {
        "profile": 200, "post": 200, "words": [bobs["id"], spam["id"]],
        "tag": [bobs["id"], spam["id"]], "from": [spam["id"]], "accounts": [mallory.username],
        "tag_timeline": [bobs["id"], spam["id"]],
        "home": [reply["id"], bobs["id"], spam["id"]], "parent_available": True,
        "likes": [[mallory.username]]}

    # Only an admin may suspend: a plain token is 403, none is 401.
    path = f"/api/admin/accounts/{mallory.username}/suspension"
    assert_error(bob.request("POST", path, json={"reason": "x"}), 403, "not_admin")
    assert_error(bob.request("DELETE", path), 403, "not_admin")
    assert_error(client.post(path), 401)
    assert_error(admin.request("POST", "/api/admin/accounts/nobody_here/suspension"), 404,
                 "account_not_found")
    assert_error(admin.request("POST", path, json={"reason": "\x00"}), 422,
                 "validation_failed", "reason")

    suspended = admin.act("POST", path, json={"reason": "spam links, 3 reports"})
    body = suspended.json()
    assert body == {"username": mallory.username, "account_id": mallory.id,
                    "suspended": True, "changed": True, "sessions_ended": 1}
    gone = position(suspended)
    again = admin.act("POST", f"/api/admin/accounts/{mallory.username.upper()}/suspension")
    assert again.json()["changed"] is False and position(again) == gone
    repeated = _cli(stack, "accounts", "suspend", mallory.username, "--reason", "again")
    assert repeated.returncode == 0, repeated.stderr
    assert json.loads(repeated.stdout) == {**body, "changed": False, "sessions_ended": 0,
                                           "account_id": int(mallory.id), "position": gone}

    # Mallory: her token is refused at once, she can neither post nor sign in.
    assert_error(mallory.request("POST", "/api/posts", json={"text": "more spam"}), 403,
                 "account_suspended")
    assert_error(mallory.request("GET", "/api/accounts/me"), 403, "account_suspended")
    assert_error(client.post("/api/sessions", json={"login": mallory.username,
                                                   "password": mallory.password}),
                 403, "account_suspended")
    assert_error(client.post("/api/sessions", json={"login": mallory.username,
                                                   "password": "not her password"}),
                 401, "invalid_credentials")
    assert_error(bob.request("POST", f"/api/accounts/{mallory.username}/follow"), 403,
                 "account_suspended")

    # The others: her profile says so; her posts, her account and her like are gone.
    assert_error(client.get(f"/api/accounts/{mallory.username}",
                            headers={"Roost-Min-Position": str(gone)}), 403,
                 "account_suspended")
    assert_error(client.get(f"/api/accounts/{mallory.username}/posts"), 403,
                 "account_suspended")
    while_suspended = seen(gone)
    assert while_suspended == {
        "profile": 403, "post": 404, "words": [bobs["id"]], "tag": [bobs["id"]], "from": [],
        "accounts": [], "tag_timeline": [bobs["id"]], "home": [reply["id"], bobs["id"]],
        "parent_available": False, "likes": []}
    events = admin.act("GET", "/api/admin/events", params={
        "account": mallory.username, "types": "AccountSuspended"}).json()["items"]
    assert [e["data"]["reason"] for e in events] == ["spam links, 3 reports"]

    lifted = _cli(stack, "accounts", "unsuspend", mallory.username)
    assert lifted.returncode == 0, lifted.stderr
    answer = json.loads(lifted.stdout)
    assert (answer["suspended"], answer["changed"]) == (False, True)
    back = int(answer["position"])
    assert seen(back) == before
    # She signs in again (her old token stays dead: its session ended) and posts.
    assert_error(mallory.request("GET", "/api/accounts/me"), 401, "session_ended")
    login = client.post("/api/sessions", json={"login": mallory.username,
                                               "password": mallory.password})
    assert login.status_code == 200, login.text
    mallory.token = login.json()["access_token"]
    mallory.post("back again")
