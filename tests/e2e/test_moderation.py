"""Blocks and mutes hide exactly what they should, and nothing more."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.conftest import User, position


def relationship(user: User, other: User, at: int) -> dict[str, bool]:
    response = user.act("GET", f"/api/accounts/{other.username}/relationship",
                        min_position=at)
    return dict(response.json())


def test_block_ends_follows_and_forbids_interaction(signup: Callable[..., User],
                                                     client: httpx.Client) -> None:
    alice, bob, carol = signup("al"), signup("bo"), signup("ca")
    alice.follow(bob)
    bob.follow(alice)
    carol.home()
    carol.follow(alice)
    post, _ = alice.post("alice speaks")
    block = alice.act("POST", f"/api/accounts/{bob.username}/block")
    assert block.json() == {"following": False, "followed_by": False, "blocking": True,
                            "blocked_by": False, "muting": False}
    at = position(block)
    assert relationship(bob, alice, at)["blocked_by"] is True
    for method, path, body in [
        ("POST", f"/api/accounts/{alice.username}/follow", None),
        ("POST", f"/api/posts/{post['id']}/like", None),
        ("POST", f"/api/posts/{post['id']}/repost", None),
        ("POST", "/api/posts", {"text": "reply", "reply_to_id": post["id"]}),
        ("POST", "/api/posts", {"text": "quote", "quote_of_id": post["id"]}),
    ]:
        response = bob.request(method, path, json=body)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "blocked"
    assert alice.request("POST", f"/api/accounts/{bob.username}/follow").status_code == 403
    # Carol reposts Alice; Bob follows Carol but must not see Alice's post.
    bob.home()
    bob.follow(carol)
    shared = carol.act("POST", f"/api/posts/{post['id']}/repost")
    assert bob.home_ids(position(shared)) == []
    assert alice.post("still visible to carol")[0]["id"] in carol.home_ids(position(shared) + 1)
    followers = bob.act("GET", f"/api/accounts/{carol.username}/following").json()
    assert alice.username not in [a["username"] for a in followers["items"]]
    assert bob.request("GET", f"/api/accounts/{alice.username}/posts").status_code == 404
    assert bob.request("GET", f"/api/posts/{post['id']}/context").status_code == 404
    assert bob.request("GET", f"/api/posts/{post['id']}").status_code == 404
    root, _ = carol.post("a thread")
    hidden, _ = alice.post("alice replies", reply_to_id=root["id"])
    visible, at = carol.post("carol replies", reply_to_id=root["id"])
    seen_by_bob = bob.act("GET", f"/api/posts/{root['id']}/context", min_position=at).json()
    assert [p["id"] for p in seen_by_bob["descendants"]] == [visible["id"]]
    seen_by_carol = carol.act("GET", f"/api/posts/{root['id']}/context").json()
    assert [p["id"] for p in seen_by_carol["descendants"]] == [hidden["id"], visible["id"]]
    lifted = alice.act("DELETE", f"/api/accounts/{bob.username}/block")
    assert relationship(alice, bob, position(lifted))["blocking"] is False
    assert bob.act("GET", f"/api/posts/{post['id']}", min_position=position(lifted)).json()[
        "id"] == post["id"]


def test_mute_hides_only_from_the_muter(signup: Callable[..., User]) -> None:
    noisy, muter, other = signup("no"), signup("mu"), signup("ot")
    for reader in (muter, other):
        reader.home()
        reader.follow(noisy)
    mute = muter.act("POST", f"/api/accounts/{noisy.username}/mute")
    assert mute.json()["muting"] is True and mute.json()["following"] is True
    post, at = noisy.post("you will not hear this")
    assert muter.home_ids(at) == []
    assert other.home_ids(at) == [post["id"]]
    assert relationship(noisy, muter, at)["muting"] is False  # invisible to the muted
    assert relationship(muter, noisy, at)["muting"] is True
    assert muter.act("GET", f"/api/posts/{post['id']}").status_code == 200  # not hidden there
    unmute = muter.act("DELETE", f"/api/accounts/{noisy.username}/mute")
    assert muter.home_ids(position(unmute)) == [post["id"]]


def test_undoing_like_and_repost_after_a_block_answers_204_and_applies(
        signup: Callable[..., User], client: httpx.Client) -> None:
    author, fan = signup("ua"), signup("uf")
    post, _ = author.post("liked, then blocked")
    for action in ("like", "repost"):
        fan.act("POST", f"/api/posts/{post['id']}/{action}")
    author.act("POST", f"/api/accounts/{fan.username}/block")
    at = 0
    for action in ("like", "repost"):
        undone = fan.request("DELETE", f"/api/posts/{post['id']}/{action}")
        assert undone.status_code == 204, undone.text
        assert undone.content == b""
        at = position(undone)
    seen = author.act("GET", f"/api/posts/{post['id']}", min_position=at).json()
    assert (seen["likes_count"], seen["reposts_count"]) == (0, 0)
    for path in ("follow", "mute", "block"):  # graph undos toward a blocker also succeed
        lifted = fan.act("DELETE", f"/api/accounts/{author.username}/{path}")
        assert "Roost-Position" in lifted.headers
        assert lifted.json()["blocked_by"] is True
