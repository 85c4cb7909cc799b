"""Likes, reposts, replies, quotes and threads through the whole pipeline."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import User, position, store_position, unique_name
from tests.e2e.stack import Stack


def get_post(client: httpx.Client, post_id: str, at: int, reader: User | None = None
             ) -> httpx.Response:
    headers = {"Roost-Min-Position": str(at), **(reader.auth if reader else {})}
    return client.get(f"/api/posts/{post_id}", headers=headers)


def test_like_is_idempotent_and_counted(signup: Callable[..., User], client: httpx.Client
                                        ) -> None:
    author, fan = signup("la"), signup("lf")
    post, _ = author.post("like me")
    first = fan.act("POST", f"/api/posts/{post['id']}/like")
    assert first.json()["liked"] is True
    again = fan.act("POST", f"/api/posts/{post['id']}/like")
    assert position(again) == position(first)
    seen = get_post(client, post["id"], position(first), fan).json()
    assert (seen["likes_count"], seen["liked"]) == (1, True)
    assert get_post(client, post["id"], position(first)).json()["liked"] is False  # anonymous
    undone = fan.act("DELETE", f"/api/posts/{post['id']}/like")
    assert undone.json()["liked"] is False
    assert get_post(client, post["id"], position(undone), fan).json()["likes_count"] == 0


def test_fifty_concurrent_likes_count_fifty_and_survive_a_replay(
    signup: Callable[..., User], client: httpx.Client, stack: Stack
) -> None:
    author = signup("viral")
    post, _ = author.post("the viral one")
    fans = [signup("fan") for _ in range(50)]

    def like(fan: User) -> int:
        return position(fan.act("POST", f"/api/posts/{post['id']}/like"))

    with ThreadPoolExecutor(max_workers=25) as pool:
        last = max(pool.map(like, fans))
    assert get_post(client, post["id"], last).json()["likes_count"] == 50

    import subprocess
    import sys

    env = {**__import__("os").environ, **stack.settings.as_env()}
    rebuilt = subprocess.run(
        [sys.executable, "-m", "infra.cli", "projections", "rebuild", "read_models", "--yes"],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr
    replayed = get_post(client, post["id"], last).json()
    assert replayed["likes_count"] == 50
    profile = client.get(f"/api/accounts/{author.username}").json()
    assert profile["posts_count"] == 1


@pytest.mark.parametrize("kept", [True, False], ids=["pushed", "rebuilt"])
def test_reposts_reach_followers_once(signup: Callable[..., User], kept: bool) -> None:
    author, r1, r2, reader = (signup(p) for p in ("ra", "r1x", "r2x", "rd"))
    reader.follow(r1)
    at = reader.follow(r2)
    if kept:
        assert reader.home(at).json()["items"] == []  # an active reader: pushed to
    post, _ = author.post("worth sharing")
    one = r1.act("POST", f"/api/posts/{post['id']}/repost")
    assert one.json()["reposted"] is True
    two = r2.act("POST", f"/api/posts/{post['id']}/repost")
    page = reader.home(position(two)).json()["items"]
    assert len(page) == 1
    item = page[0]
    assert item["author"]["username"] == r1.username
    assert item["repost_of"]["id"] == post["id"]
    assert item["repost_of"]["reposts_count"] == 2
    assert item["repost_of"]["author"]["username"] == author.username
    # The reposter's own followers who follow the author too see the post once.
    reader.follow(author)
    ids = [(i["id"], (i["repost_of"] or {}).get("id")) for i in reader.home(
        reader.follow(author)).json()["items"]]
    originals = [orig or item for item, orig in ids]
    assert originals.count(post["id"]) == 1


def test_undo_repost_and_delete_remove_reposts(signup: Callable[..., User],
                                               client: httpx.Client) -> None:
    author, sharer, reader = signup("da"), signup("ds"), signup("dr")
    reader.follow(sharer)
    post, _ = author.post("ephemeral")
    shared = sharer.act("POST", f"/api/posts/{post['id']}/repost")
    assert [i["repost_of"]["id"] for i in reader.home(position(shared)).json()["items"]] == \
        [post["id"]]
    undone = sharer.act("DELETE", f"/api/posts/{post['id']}/repost")
    assert reader.home(position(undone)).json()["items"] == []
    again = sharer.act("POST", f"/api/posts/{post['id']}/repost")
    assert len(reader.home(position(again)).json()["items"]) == 1
    reply, _ = reader.post("a reply", reply_to_id=post["id"])
    deleted = author.act("DELETE", f"/api/posts/{post['id']}", expect=204)
    at = position(deleted)
    assert [i["id"] for i in reader.home(at).json()["items"]] == [reply["id"]]
    assert [i["id"] for i in sharer.home(at).json()["items"]] == []
    kept = get_post(client, reply["id"], at).json()
    assert kept["reply_to_id"] == post["id"] and kept["reply_to_available"] is False
    assert client.get(f"/api/posts/{post['id']}/context").status_code == 404


def test_thread_context_order(signup: Callable[..., User], client: httpx.Client) -> None:
    a, b = signup("ta"), signup("tb")
    root, _ = a.post("root")
    r1, _ = b.post("r1", reply_to_id=root["id"])
    r2, _ = a.post("r2", reply_to_id=root["id"])
    r11, _ = a.post("r1.1", reply_to_id=r1["id"])
    r111, at = b.post("r1.1.1", reply_to_id=r11["id"])
    quote, at = b.post("quoting", quote_of_id=root["id"])
    assert quote["quote_of_id"] == root["id"]
    ctx = client.get(f"/api/posts/{r11['id']}/context",
                     headers={"Roost-Min-Position": str(at)}).json()
    assert [p["id"] for p in ctx["ancestors"]] == [root["id"], r1["id"]]
    assert [p["id"] for p in ctx["descendants"]] == [r111["id"]]
    full = client.get(f"/api/posts/{root['id']}/context").json()
    assert [p["id"] for p in full["descendants"]] == [r1["id"], r11["id"], r111["id"], r2["id"]]
    assert get_post(client, root["id"], at).json()["replies_count"] == 2


def test_bad_interactions(signup: Callable[..., User], stack: Stack) -> None:
    user = signup("bi")
    before = store_position(stack)
    for method in ("POST", "DELETE"):
        for action in ("like", "repost"):
            assert user.request(method, f"/api/posts/12345/{action}").status_code == 404
            assert user.request(method, f"/api/posts/x1/{action}").status_code == 404
    assert user.request("GET", "/api/posts/12345/context").status_code == 404
    for action in ("block", "mute"):
        response = user.request("POST", f"/api/accounts/{user.username}/{action}")
        assert response.status_code == 422
        assert response.json()["error"]["code"] == f"cannot_{action}_self"
        missing = user.request("POST", f"/api/accounts/{unique_name('ghost')}/{action}")
        assert missing.status_code == 404
    assert store_position(stack) == before
    author = signup("bj")
    post, _ = author.post("gone soon")
    author.act("DELETE", f"/api/posts/{post['id']}", expect=204)
    before = store_position(stack)
    for action in ("like", "repost"):
        gone = user.request("POST", f"/api/posts/{post['id']}/{action}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "post_not_found"
    for field in ("reply_to_id", "quote_of_id"):
        body = {"text": "x", field: post["id"]}
        assert user.request("POST", "/api/posts", json=body).status_code == 422
    assert store_position(stack) == before
