"""Erasure end to end (issue 12): an account with posts, likes, follows, replies from
others, notifications, search documents and live timelines is erased with
``roost accounts erase``; then none of its personal data is left in the read models, the
stored events' raw bytes, Redis (timelines, post cache, notification hot parts),
the search index or an export (``roost events tail``), while the others' reply
stays, its parent unavailable; a blue-green rebuild of the read models and the
search index (``roost projections rebuild``) keeps it so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import psycopg
import redis
from psycopg import sql

from infra.redis_clients import build_sync_redis
from infra.search_schema import SearchNames
from tests.e2e.conftest import User, assert_error, position, unique_name
from tests.e2e.stack import Stack
from tests.images import photo


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.settings.as_env()}
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _found(haystack: str | bytes, needles: Iterable[str]) -> set[str]:
    """The needles in ``haystack`` (bytes: as UTF-8; text: as is and as the hex a
    bytea column prints)."""
    if isinstance(haystack, bytes):
        return {n for n in needles if n.encode() in haystack}
    return {n for n in needles if n in haystack or n.encode().hex() in haystack}


def _in_postgres(stack: Stack, needles: list[str]) -> dict[str, set[str]]:
    """Needles found per table (``schema.table``) of the stack's database, in every
    schema (the read models' copies ``rm_v<N>`` included): every table's rows as
    text, and ``roost_events``' raw ``state`` bytes."""
    hits: dict[str, set[str]] = {}
    with psycopg.connect(stack.settings.postgres_conninfo) as conn:
        tables = [(str(r[0]), str(r[1])) for r in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'").fetchall()]
        for schema, table in tables:
            if table == "roost_events":
                rows = conn.execute("SELECT state FROM roost_events").fetchall()
                found = set().union(*(_found(bytes(r[0]), needles) for r in rows))
            else:
                rows = conn.execute(sql.SQL("SELECT t::text FROM {} t").format(
                    sql.Identifier(schema, table))).fetchall()
                found = set().union(*(_found(str(r[0]), needles) for r in rows))
            if found:
                hits[f"{schema}.{table}"] = found
    return hits


def _redis_values(client: redis.Redis, key: bytes) -> bytes:
    """Every value of ``key``, whatever its type, as bytes."""
    raw: Any = client.type(key)
    kind = raw.decode() if isinstance(raw, bytes) else str(raw)
    values: list[Any] = []
    if kind == "string":
        values = [client.get(key)]
    elif kind == "hash":
        values = [b for kv in client.hgetall(key).items() for b in kv]
    elif kind == "zset":
        values = list(client.zrange(key, 0, -1))
    elif kind == "set":
        values = list(client.smembers(key))
    elif kind == "list":
        values = list(client.lrange(key, 0, -1))
    elif kind == "stream":
        entries: Any = client.xrange(key)
        values = [b for _, fields in entries for kv in fields.items() for b in kv]
    return b"\n".join(v if isinstance(v, bytes) else str(v).encode() for v in values)


def _in_redis(stack: Stack, needles: list[str]) -> dict[str, set[str]]:
    """Needles found per key under the stack's prefix (its name and its values)."""
    hits: dict[str, set[str]] = {}
    client = build_sync_redis(stack.settings)
    try:
        for key in client.scan_iter(match=f"{stack.settings.redis_prefix}*", count=1000):
            found = _found(key + b"\n" + _redis_values(client, key), needles)
            if found:
                hits[key.decode()] = found
    finally:
        client.close()
    return hits


def _in_search(stack: Stack, needles: list[str]) -> set[str]:
    """Needles in any document of the live search generation (through the aliases)."""
    names = SearchNames(stack.settings.elasticsearch_prefix)
    text = ""
    for index in (names.posts, names.accounts):
        answer = httpx.post(f"{stack.settings.elasticsearch_url}/{index}/_search",
                            json={"query": {"match_all": {}}, "size": 10_000}, timeout=30)
        assert answer.status_code == 200, answer.text
        text += answer.text
    return _found(text, needles)


def _export(stack: Stack) -> str:
    tail = _cli(stack, "events", "tail", "--limit", "100000")
    assert tail.returncode == 0, tail.stderr
    return tail.stdout


def _admin_events(admin: User, username: str) -> str:
    """The data of every event of ``username`` the admin events API pages out, as
    compact JSON lines."""
    lines: list[str] = []
    after = "0"
    for _ in range(10_000):
        found = admin.act("GET", "/api/admin/events",
                          params={"account": username, "limit": 100, "after": after}).json()
        lines += [json.dumps(e["data"], separators=(",", ":")) for e in found["items"]]
        if found["next_cursor"] is None:
            return "\n".join(lines)
        after = found["next_cursor"]
    raise AssertionError("the admin events pages never ended")


def test_erasure_leaves_no_trace_of_the_account_s_personal_data(
        stack: Stack, client: httpx.Client, signup: Callable[..., User]) -> None:
    mark = unique_name("z")  # a word no other test writes
    display, bio = f"Zelda {mark}", f"bio of {mark}"
    avatar = f"https://img.example/{mark}.png"
    text_1, text_2 = f"first words {mark}a #t{mark[-6:]}", f"second words {mark}b"
    alice = signup("era", display_name=display)
    bob, carol = signup("erb"), signup("erc")
    email = f"{alice.username}@example.com"
    alice.act("PATCH", "/api/accounts/me", json={"bio": bio, "avatar_url": avatar})
    bob.follow(alice)
    carol.follow(alice)
    alice.follow(bob)
    bobs, _ = bob.post("bob's own post")
    first, _ = alice.post(text_1)
    second, _ = alice.post(f"@{bob.username} {text_2}")
    reply, _ = bob.post("a reply that stays", reply_to_id=first["id"])
    bob.act("POST", f"/api/posts/{first['id']}/like")
    carol.act("POST", f"/api/posts/{first['id']}/repost")
    at = position(alice.act("POST", f"/api/posts/{bobs['id']}/like"))

    personal = [display, bio, avatar, email, text_1, text_2, mark, alice.username]
    # Everything is projected and read once (the post cache filled) before erasure.
    home = bob.request("GET", "/api/timelines/home", at, params={"limit": 100})
    assert first["id"] in home.text and text_1 in home.text
    assert bob.request("GET", "/api/notifications", at).status_code == 200
    found = bob.request("GET", "/api/search", at, params={"q": f"{mark}a"}).json()["items"]
    assert [p["id"] for p in found] == [first["id"]]
    assert _in_search(stack, personal)  # the checks can fail: the data is there now
    assert _in_redis(stack, [text_1])
    assert any(t.endswith(".rm_accounts") for t in _in_postgres(stack, personal))
    assert text_1 in _export(stack)
    granted = _cli(stack, "accounts", "grant-admin", carol.username)
    assert granted.returncode == 0, granted.stderr
    assert text_1 in _admin_events(carol, alice.username)  # read in plain by an admin
    # ... but never in the event store's bytes: sealed with alice's data key.
    assert "public.roost_events" not in _in_postgres(stack, [display, bio, text_1, email])

    erased = _cli(stack, "accounts", "erase", alice.username, "--yes")
    assert erased.returncode == 0, erased.stderr
    answer = json.loads(erased.stdout)
    assert answer["already_erased"] is False and answer["sessions_ended"] == 1
    gone = int(answer["position"])
    repeated = _cli(stack, "accounts", "erase", alice.username.upper(), "--yes")
    assert repeated.returncode == 0, repeated.stderr
    again = json.loads(repeated.stdout)
    assert again["already_erased"] is True and int(again["position"]) == gone
    # the address is free again (a 409 would tell it was registered); the name is not
    anew = client.post("/api/accounts", json={"username": unique_name("new"), "email": email,
                                              "password": "long enough"})
    assert anew.status_code == 201, anew.text
    taken = client.post("/api/accounts", json={
        "username": alice.username, "email": "else@example.com", "password": "long enough"})
    assert_error(taken, 409, "username_taken")

    # Every read side has applied the erasure (each read waits for its projection).
    assert_error(bob.request("GET", f"/api/accounts/{alice.username}", gone), 404)
    home_after = bob.request("GET", "/api/timelines/home", gone, params={"limit": 100})
    assert home_after.status_code == 200
    items = home_after.json()["items"]
    assert [i["id"] for i in items] == [reply["id"], bobs["id"]]  # bob's reply stays
    assert items[0]["reply_to_id"] == first["id"]
    notes = bob.request("GET", "/api/notifications", gone)
    assert notes.status_code == 200 and alice.id not in notes.text
    assert bob.request("GET", "/api/search", gone,
                       params={"q": f"{mark}a"}).json()["items"] == []
    people = bob.request("GET", "/api/search", gone,
                         params={"q": alice.username, "type": "accounts"})
    assert people.status_code == 200 and people.json()["items"] == []

    # The reply stays; its parent shows as a deleted post does.
    kept = bob.request("GET", f"/api/posts/{reply['id']}", gone)
    assert kept.status_code == 200 and kept.json()["reply_to_id"] == first["id"]
    assert_error(bob.request("GET", f"/api/posts/{first['id']}", gone), 404)
    assert_error(bob.request("GET", f"/api/posts/{second['id']}", gone), 404)
    context = bob.request("GET", f"/api/posts/{reply['id']}/context", gone).json()
    assert context["ancestors"] == []
    assert bob.request("GET", f"/api/accounts/{bob.username}", gone).json()[
        "followers_count"] == 0  # alice's follow is gone with her
    # Alice can neither log in nor use the token she had.
    assert_error(client.post("/api/sessions", json={"login": alice.username,
                                                   "password": alice.password}), 401)
    assert alice.request("GET", "/api/accounts/me").status_code == 401
    # The admin route refuses tokens without the admin role.
    assert_error(bob.request("DELETE", f"/api/admin/accounts/{carol.username}"), 403,
                 "not_admin")
    # An admin reads alice's events with her personal data as placeholders.
    shown = _admin_events(carol, alice.username)
    assert text_1 not in shown and f'"username":"{alice.username}"' not in shown
    assert '"username":"erased-' in shown

    assert _in_postgres(stack, personal) == {}
    assert _in_redis(stack, personal) == {}
    assert _in_search(stack, personal) == set()
    assert _found(_export(stack), personal) == set()

    # A blue-green rebuild from the sealed events keeps the account erased, and equals
    # what the live purge left.
    for name in ("read_models", "search_index"):
        rebuilt = _cli(stack, "projections", "rebuild", name)
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        verified = _cli(stack, "projections", "verify", name, "--json")
        assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-2000:]
    assert _in_postgres(stack, personal) == {}
    assert _in_search(stack, personal) == set()
    assert_error(bob.request("GET", f"/api/accounts/{alice.username}", gone), 404)
    assert bob.request("GET", "/api/search", gone,
                       params={"q": f"{mark}a"}).json()["items"] == []
    # An admin erases an account through the API.
    erased_by_admin = carol.act("DELETE", f"/api/admin/accounts/{bob.username}").json()
    assert erased_by_admin["already_erased"] is False


def _upload(user: User, description: str, seed: int) -> dict[str, Any]:
    answer = user.request("POST", "/api/media", data={"description": description},
                          files={"file": ("p.jpg", photo(400, 300, seed=seed), "image/jpeg")})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_erasure_stops_serving_the_account_s_media_and_forgets_their_alt_text(
        stack: Stack, client: httpx.Client, signup: Callable[..., User]) -> None:
    """Alice's media, attached or not, stop being served (object and bytes) and leave
    the read models; their alt text, sealed with her key in the event store, is
    nowhere any more (tables, raw events, Redis, export). Bob's media stay."""
    mark = unique_name("y")
    alt_attached, alt_loose, alt_changed = (f"attached alt {mark}", f"loose alt {mark}",
                                            f"changed alt {mark}")
    alice, bob = signup("mea"), signup("meb")
    bob.follow(alice)
    attached = _upload(alice, alt_attached, 1)
    loose = _upload(alice, alt_loose, 2)
    described = alice.act("PATCH", f"/api/media/{loose['id']}",
                          json={"description": alt_changed})
    post, _ = alice.post("", media_ids=[attached["id"]])
    bobs_media = _upload(bob, "bob's own picture", 3)
    bobs, at = bob.post("bob keeps his", media_ids=[bobs_media["id"]])
    at = max(at, position(described))

    alts = [alt_attached, alt_loose, alt_changed]
    home = bob.request("GET", "/api/timelines/home", at, params={"limit": 100}).json()
    assert [m["description"] for i in home["items"] for m in i["media"]] == [
        "bob's own picture", alt_attached]
    urls = [m[k] for m in (attached, loose) for k in ("url", "preview_url")]
    for url in urls:
        assert client.get(url).status_code == 200
    assert alice.request("GET", f"/api/media/{loose['id']}", at).json()["description"] \
        == alt_changed
    assert any(table.endswith(".rm_media")  # the checks can fail: the text is there
               for table in _in_postgres(stack, alts))
    assert "public.roost_events" not in _in_postgres(stack, alts)  # sealed with her key

    erased = _cli(stack, "accounts", "erase", alice.username, "--yes")
    assert erased.returncode == 0, erased.stderr
    gone = int(json.loads(erased.stdout)["position"])

    for media_id in (attached["id"], loose["id"]):
        assert_error(bob.request("GET", f"/api/media/{media_id}", gone), 404, "media_not_found")
    for url in urls:
        assert client.get(url).status_code == 404
    assert_error(bob.request("GET", f"/api/posts/{post['id']}", gone), 404)
    home = bob.request("GET", "/api/timelines/home", gone, params={"limit": 100}).json()
    assert [i["id"] for i in home["items"]] == [bobs["id"]]
    assert [m["id"] for m in home["items"][0]["media"]] == [bobs_media["id"]]
    assert client.get(bobs_media["url"]).status_code == 200
    with psycopg.connect(stack.settings.postgres_conninfo) as conn:
        owners = {int(r[0]) for r in conn.execute("SELECT owner_id FROM rm_media").fetchall()}
    assert int(alice.id) not in owners and int(bob.id) in owners
    assert _in_postgres(stack, alts) == {}
    assert _in_redis(stack, alts) == {}
    assert _found(_export(stack), alts) == set()
