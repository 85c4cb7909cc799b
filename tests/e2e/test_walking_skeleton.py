"""Accounts, sessions, posts, follows and the home timeline through the whole pipeline."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.conftest import User, position


def test_follower_sees_post_then_delete_and_unfollow_remove_it(
    signup: Callable[..., User], client: httpx.Client
) -> None:
    alice, bob = signup("alice"), signup("bob")
    follow = bob.request("POST", f"/api/accounts/{alice.username}/follow")
    assert follow.status_code == 200
    assert follow.json()["following"] is True

    post, created_at = alice.post("hello #Roost @" + bob.username)
    assert post["hashtags"] == ["roost"]
    assert post["mentions"] == [bob.username]
    assert post["author"]["username"] == alice.username

    assert bob.home_ids(created_at) == [post["id"]]
    assert alice.home_ids(created_at) == [post["id"]]

    deleted = alice.request("DELETE", f"/api/posts/{post['id']}")
    assert deleted.status_code == 204
    gone = position(deleted)
    assert bob.home_ids(gone) == []
    assert client.get(f"/api/posts/{post['id']}",
                      headers={"Roost-Min-Position": str(gone)}).status_code == 404

    kept, at = alice.post("still here")
    assert bob.home_ids(at) == [kept["id"]]
    unfollow = bob.request("DELETE", f"/api/accounts/{alice.username}/follow")
    assert unfollow.status_code == 200 and unfollow.json()["following"] is False
    assert bob.home_ids(position(unfollow)) == []
    assert alice.home_ids(position(unfollow)) == [kept["id"]]


def test_follow_backfills_recent_posts_in_order(signup: Callable[..., User]) -> None:
    author, reader = signup("author"), signup("reader")
    ids = [author.post(f"post {n}")[0]["id"] for n in range(5)]
    follow = reader.request("POST", f"/api/accounts/{author.username}/follow")
    assert reader.home_ids(position(follow), limit=2) == list(reversed(ids))


def test_counts_lists_and_relationship(signup: Callable[..., User], client: httpx.Client
                                       ) -> None:
    star, fan1, fan2 = signup("star"), signup("fan"), signup("fan")
    fan1.request("POST", f"/api/accounts/{star.username}/follow")
    last = fan2.request("POST", f"/api/accounts/{star.username}/follow")
    again = fan2.request("POST", f"/api/accounts/{star.username}/follow")
    assert position(again) == position(last)  # idempotent: the event that made the state
    _, at = star.post("counted")
    profile = client.get(f"/api/accounts/{star.username.upper()}",
                         headers={"Roost-Min-Position": str(at)}).json()
    assert (profile["followers_count"], profile["following_count"], profile["posts_count"]) == \
        (2, 0, 1)
    assert "email" not in profile
    followers = client.get(f"/api/accounts/{star.username}/followers", params={"limit": 1})
    page1 = followers.json()
    assert [a["username"] for a in page1["items"]] == [fan2.username]
    page2 = client.get(f"/api/accounts/{star.username}/followers",
                       params={"limit": 1, "cursor": page1["next_cursor"]}).json()
    assert [a["username"] for a in page2["items"]] == [fan1.username]
    assert page2["next_cursor"] is None
    following = client.get(f"/api/accounts/{fan1.username}/following").json()
    assert [a["username"] for a in following["items"]] == [star.username]
    rel = star.request("GET", f"/api/accounts/{fan1.username}/relationship", at).json()
    assert rel == {"following": False, "followed_by": True, "blocking": False,
                   "blocked_by": False, "muting": False}


def test_sessions_refresh_rotates_and_logout_revokes(signup: Callable[..., User],
                                                     client: httpx.Client) -> None:
    user = signup("sess")
    login = client.post("/api/sessions", json={"login": f"{user.username}@EXAMPLE.com",
                                               "password": user.password}).json()
    assert login["token_type"] == "bearer" and login["expires_in"] > 0
    rotated = client.post("/api/sessions/refresh", json={"refresh_token": login["refresh_token"]})
    assert rotated.status_code == 200
    access = rotated.json()["access_token"]
    me = client.get("/api/accounts/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200 and me.json()["email"] == f"{user.username}@example.com"
    out = client.delete("/api/sessions/current", headers={"Authorization": f"Bearer {access}"})
    assert out.status_code == 204
    after = client.get("/api/accounts/me", headers={"Authorization": f"Bearer {access}"})
    assert after.status_code == 401
    refresh_after = client.post("/api/sessions/refresh",
                                json={"refresh_token": rotated.json()["refresh_token"]})
    assert refresh_after.status_code == 401


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(
        signup: Callable[..., User], client: httpx.Client) -> None:
    user = signup("reuse")
    a = client.post("/api/sessions", json={"login": user.username,
                                           "password": user.password}).json()
    b = client.post("/api/sessions/refresh", json={"refresh_token": a["refresh_token"]})
    assert b.status_code == 200
    reused = client.post("/api/sessions/refresh", json={"refresh_token": a["refresh_token"]})
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "invalid_refresh_token"
    for access in (a["access_token"], b.json()["access_token"]):
        me = client.get("/api/accounts/me", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 401
    again = client.post("/api/sessions/refresh", json={"refresh_token": b.json()["refresh_token"]})
    assert again.status_code == 401
    assert user.request("GET", "/api/accounts/me").status_code == 200  # another login


def test_profile_patch_keeps_omitted_and_clears_null(signup: Callable[..., User]) -> None:
    user = signup("prof")
    first = user.request("PATCH", "/api/accounts/me",
                         json={"display_name": "Prof", "bio": "hello"})
    assert first.status_code == 200, first.text
    second = user.request("PATCH", "/api/accounts/me", json={"bio": None})
    body = second.json()
    assert (body["display_name"], body["bio"]) == ("Prof", "")
    public = user.client.get(f"/api/accounts/{user.username}",
                             headers={"Roost-Min-Position": str(position(second))}).json()
    assert (public["display_name"], public["bio"]) == ("Prof", "")


def test_health_and_metrics(client: httpx.Client) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert set(health["checks"]) >= {"postgres", "redis", "kafka", "elasticsearch", "worker"}
    assert set(health["checks"].values()) == {"ok"}
    metrics = client.get("/metrics").text
    for name in ("roost_http_request_duration_seconds", "roost_relay_position",
                 "roost_projection_lag_events"):
        assert name in metrics
    assert client.get("/docs").status_code == 200
    assert "/api/timelines/home" in client.get("/openapi.json").json()["paths"]
