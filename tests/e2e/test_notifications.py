"""Notifications through the whole pipeline: each type reaches its recipient and never
the actor, likes group, undos and blocks take accounts out, preferences filter,
read marks and unread counts, and the API's refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import User, assert_error, position


def notifications(user: User, at: int, **params: Any) -> list[dict[str, Any]]:
    """The user's groups once the write at ``at`` is projected (every page)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = user.request("GET", "/api/notifications", at, params=query)
        assert response.status_code == 200, response.text
        assert response.headers.get("Roost-Stale") is None
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


def kinds(groups: list[dict[str, Any]]) -> list[tuple[str, list[str], int]]:
    return [(g["type"], [a["username"] for a in g["accounts"]], g["accounts_count"])
            for g in groups]


def unread(user: User, at: int) -> int:
    response = user.act("GET", "/api/notifications/unread_count", min_position=at)
    assert set(response.json()) == {"count"}
    return int(response.json()["count"])


def test_each_type_reaches_its_recipient_and_never_the_actor(
        signup: Callable[..., User]) -> None:
    alice, bob, carol = signup("al"), signup("bo"), signup("ca")
    hello, _ = alice.post("hello")
    bob.follow(alice)
    bob.act("POST", f"/api/posts/{hello['id']}/like")
    bob.act("POST", f"/api/posts/{hello['id']}/repost")
    reply, _ = bob.post("a reply", reply_to_id=hello["id"])
    quote, _ = carol.post("a quote", quote_of_id=hello["id"])
    mention, at = carol.post(f"hi @{alice.username} and @{carol.username}")
    alice.act("POST", f"/api/posts/{hello['id']}/like")  # her own: nothing
    _, at = alice.post(f"@{alice.username} talks to herself", reply_to_id=hello["id"])

    groups = notifications(alice, at)
    assert kinds(groups) == [
        ("mention", [carol.username], 1), ("quote", [carol.username], 1),
        ("reply", [bob.username], 1), ("repost", [bob.username], 1),
        ("like", [bob.username], 1), ("follow", [bob.username], 1)]
    assert [g["post"] and g["post"]["id"] for g in groups] == [
        mention["id"], quote["id"], reply["id"], hello["id"], hello["id"], None]
    group = groups[0]
    assert set(group) == {"id", "type", "post", "accounts", "accounts_count", "latest_at",
                          "read"}
    assert group["read"] is False and group["latest_at"].endswith("Z")
    assert set(group["accounts"][0]) >= {"id", "username", "display_name", "followers_count"}
    for actor in (bob, carol):  # the actors hear nothing of their own actions
        assert notifications(actor, at) == []
    assert unread(alice, at) == 6


def test_fifty_likes_make_one_group_newest_first_and_an_unlike_takes_one_out(
        signup: Callable[..., User]) -> None:
    author = signup("star")
    post, _ = author.post("like me")
    fans = [signup("fan") for _ in range(50)]
    for fan in fans:
        at = position(fan.act("POST", f"/api/posts/{post['id']}/like"))
    [group] = notifications(author, at)
    assert (group["type"], group["accounts_count"], group["post"]["id"]) == (
        "like", 50, post["id"])
    assert [a["username"] for a in group["accounts"]] == [
        f.username for f in reversed(fans)][:8]

    at = position(fans[-1].act("DELETE", f"/api/posts/{post['id']}/like"))
    [group] = notifications(author, at)
    assert group["accounts_count"] == 49
    assert [a["username"] for a in group["accounts"]] == [
        f.username for f in reversed(fans[:-1])][:8]


def test_preferences_filter_by_type_and_by_following(signup: Callable[..., User]) -> None:
    alice, friend, stranger = signup("al"), signup("fr"), signup("st")
    assert alice.act("GET", "/api/notifications/preferences").json() == {
        kind: "everyone" for kind in ("follow", "like", "repost", "reply", "mention", "quote")}
    patched = alice.act("PATCH", "/api/notifications/preferences",
                        json={"like": "off", "mention": "following"})
    assert patched.json() == {"follow": "everyone", "like": "off", "repost": "everyone",
                              "reply": "everyone", "mention": "following",
                              "quote": "everyone"}
    again = alice.act("PATCH", "/api/notifications/preferences", json={"like": "off"})
    assert position(again) == position(patched)  # nothing changed: nothing appended
    assert alice.act("GET", "/api/notifications/preferences",
                     min_position=position(patched)).json() == patched.json()
    alice.follow(friend)
    hello, _ = alice.post("hello")
    stranger.act("POST", f"/api/posts/{hello['id']}/like")
    stranger.post(f"@{alice.username} from a stranger")
    friend.post(f"@{alice.username} from a friend")
    _, at = stranger.post("a reply", reply_to_id=hello["id"])
    assert kinds(notifications(alice, at)) == [("reply", [stranger.username], 1),
                                              ("mention", [friend.username], 1)]
    # a type turned off later is hidden at once, and no longer counted
    off = alice.act("PATCH", "/api/notifications/preferences", json={"reply": "off"})
    assert kinds(notifications(alice, position(off))) == [("mention", [friend.username], 1)]
    assert unread(alice, position(off)) == 1
    for body in ({"like": "sometimes"}, {"likes": "off"}, {"like": 1}):
        response = alice.request("PATCH", "/api/notifications/preferences", json=body)
        if "likes" in body:  # unknown fields are ignored, as everywhere
            assert response.status_code == 200
        else:
            assert_error(response, 422, "validation_failed", "like")


def test_blocks_and_mutes_suppress_even_when_made_after(signup: Callable[..., User]) -> None:
    alice, bob, carol, dave = signup("al"), signup("bo"), signup("ca"), signup("da")
    hello, _ = alice.post("hello")
    for actor in (bob, carol, dave):
        actor.act("POST", f"/api/posts/{hello['id']}/like")
    _, at = bob.post(f"@{alice.username} hi")
    assert kinds(notifications(alice, at)) == [
        ("mention", [bob.username], 1),
        ("like", [dave.username, carol.username, bob.username], 3)]
    at = position(alice.act("POST", f"/api/accounts/{bob.username}/block"))
    at = max(at, position(alice.act("POST", f"/api/accounts/{carol.username}/mute")))
    assert kinds(notifications(alice, at)) == [("like", [dave.username], 1)]
    assert unread(alice, at) == 1
    # and from then on: a muted account's mention, a blocker's mention, notify no one
    carol.post(f"@{alice.username} muted")
    dave.act("POST", f"/api/accounts/{alice.username}/block")
    _, at = dave.post(f"@{alice.username} blocking")
    assert notifications(alice, at) == []


def test_a_mention_inside_a_url_notifies_no_one(signup: Callable[..., User]) -> None:
    alice, bob = signup("al"), signup("bo")
    _, at = bob.post(f"see https://video.example/@{alice.username} and "
                     f"https://example.org/?by=@{alice.username}")
    assert notifications(alice, at) == []
    _, at = bob.post(f"(@{alice.username}) now")
    assert kinds(notifications(alice, at)) == [("mention", [bob.username], 1)]


def test_read_marks_up_to_an_id_and_by_ids(signup: Callable[..., User]) -> None:
    alice, bob = signup("al"), signup("bo")
    hello, _ = alice.post("hello")
    for i in range(4):
        _, at = bob.post(f"reply {i}", reply_to_id=hello["id"])
    groups = notifications(alice, at)
    assert unread(alice, at) == 4
    marked = alice.act("POST", "/api/notifications/read", expect=204,
                       json={"up_to_id": groups[2]["id"]})
    assert marked.content == b"" and position(marked) > at
    assert unread(alice, position(marked)) == 2  # answered once applied: no wait needed
    marked = alice.act("POST", "/api/notifications/read", expect=204,
                       json={"ids": [groups[0]["id"], "999999"]})
    assert [g["read"] for g in notifications(alice, position(marked))] == [
        True, False, True, True]
    assert unread(alice, 0) == 1
    bob.act("POST", f"/api/posts/{hello['id']}/like")
    at = position(alice.act("POST", "/api/notifications/read", expect=204,
                            json={"up_to_id": "9223372036854775807"}))
    assert unread(alice, at) == 0
    for body in ({}, {"up_to_id": "abc"}, {"ids": "1"}, {"ids": ["x"]},
                 {"ids": ["1"] * 101}):
        assert_error(alice.request("POST", "/api/notifications/read", json=body), 422)


def test_types_filter_paging_and_refusals(signup: Callable[..., User],
                                          client: httpx.Client) -> None:
    alice, bob = signup("al"), signup("bo")
    hello, _ = alice.post("hello")
    bob.follow(alice)
    bob.act("POST", f"/api/posts/{hello['id']}/like")
    for i in range(5):
        _, at = bob.post(f"@{alice.username} {i}")
    assert [g["type"] for g in notifications(alice, at, types="like,follow")] == [
        "like", "follow"]
    response = alice.request("GET", "/api/notifications?types=like&types=mention&limit=2",
                             at)
    page = response.json()
    assert [g["type"] for g in page["items"]] == ["mention", "mention"]
    assert len(notifications(alice, at, types="mention", limit=2)) == 5
    for query in ("types=likes", "types=like,,follow", "types=", "limit=0", "cursor=xyz"):
        assert_error(alice.request("GET", f"/api/notifications?{query}"), 422,
                     field=query.split("=")[0])
    for method, path in (("GET", "/api/notifications"), ("GET", "/api/notifications/unread_count"),
                         ("POST", "/api/notifications/read"),
                         ("GET", "/api/notifications/preferences"),
                         ("PATCH", "/api/notifications/preferences")):
        assert_error(client.request(method, path, json={}), 401)
