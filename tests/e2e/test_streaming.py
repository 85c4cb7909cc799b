"""Server-Sent Events against the whole stack: the home stream's updates and deletes,
exact resume across disconnects and API restarts, reset, the query token kept out of
the logs, the per-account stream limit and a slow client cut off with a reason; the
notifications stream's groups from the notifications projection, their resume, and
a rebuild that sends nothing.

Streams are read from API processes of their own (short keep-alive, small limits),
beside the session's stack, whose worker publishes the events.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra import devstack
from tests.e2e.conftest import User, assert_error, position, wait_until
from tests.e2e.stack import Stack
from tests.sse import Sse, SseParser, items

STREAM_LIMIT = 3
LONG_TEXT = "a post long enough to fill a socket buffer quickly " * 5  # 255 characters


@contextlib.contextmanager
def extra_api(stack: Stack, log_dir: Path, **overrides: Any) -> Iterator[Stack]:
    """One more API process on the session stack's stores, with ``overrides``."""
    settings = stack.settings.model_copy(update={
        "api_port": devstack.free_port(), "live_keepalive_s": 0.5, **overrides})
    with contextlib.ExitStack() as cleanup:
        api = Stack(settings, log_dir)
        cleanup.callback(api.stop_all)
        api.start("api")
        api.wait_healthy()
        yield api


@pytest.fixture(scope="module")
def live_api(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with extra_api(stack, tmp_path_factory.mktemp("live-api"),
                   live_max_streams_per_account=STREAM_LIMIT) as api:
        yield api


class Stream:
    """An open SSE response, read item by item with bounded waits."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._items = items(response.iter_lines())
        self.comments: list[str] = []

    def next_events(self, count: int, timeout: float = 30.0) -> list[Sse]:
        """The next ``count`` events (comments are kept aside); the keep-alive comments
        arrive every half second, so each wait is checked against the deadline."""
        events: list[Sse] = []
        deadline = time.monotonic() + timeout
        while len(events) < count:
            assert time.monotonic() < deadline, f"got {len(events)} of {count}: {events}"
            item = next(self._items)
            if item.comment is not None:
                self.comments.append(item.comment)
            else:
                events.append(item)
        return events

    def quiet_for(self, pings: int = 2) -> None:
        """Nothing but keep-alive comments for ``pings`` of them."""
        seen = 0
        while seen < pings:
            item = next(self._items)
            assert item.comment is not None, f"unexpected event {item}"
            seen += 1


@contextlib.contextmanager
def open_stream(api: Stack, path: str, user: User, last_event_id: str | None = None,
                query_token: bool = False) -> Iterator[Stream]:
    headers = {"Accept": "text/event-stream"}
    params = {}
    if query_token:
        params["access_token"] = user.token
    else:
        headers["Authorization"] = f"Bearer {user.token}"
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with httpx.Client(base_url=api.base_url, timeout=httpx.Timeout(10, read=20)) as client, \
            client.stream("GET", path, headers=headers, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


def follower_of(signup: Callable[..., User], prefix: str) -> tuple[User, User]:
    author, reader = signup(f"{prefix}a"), signup(f"{prefix}r")
    reader.home_ids(reader.follow(author))  # projected, and the reader's timeline kept
    return author, reader


def event_key(sse: Sse) -> tuple[int, int]:
    assert sse.id is not None
    position_, _, seq = sse.id.partition("-")
    return int(position_), int(seq)


def test_the_home_stream_sends_a_followee_s_post_then_its_deletion(
        live_api: Stack, signup: Callable[..., User]) -> None:
    author, reader = follower_of(signup, "home")
    with open_stream(live_api, "/api/streaming/home", reader) as stream:
        created, at = author.post("hello, live readers")
        (update,) = stream.next_events(1)
        assert update.event == "update"
        assert update.data["id"] == created["id"]
        assert update.data["text"] == "hello, live readers"
        assert update.data["author"]["username"] == author.username
        assert {"created_at", "likes_count", "liked", "repost_of", "media"} <= set(update.data)
        assert event_key(update)[0] >= at  # ids are event-store positions
        author.act("DELETE", f"/api/posts/{created['id']}", expect=204)
        (deleted,) = stream.next_events(1)
        assert (deleted.event, deleted.data) == ("delete", {"id": created["id"]})
        assert event_key(deleted) > event_key(update)
        stream.quiet_for(1)  # a keep-alive comment every half second, nothing else
        own, _ = reader.post("my own post")  # own posts are home items too
        (mine,) = stream.next_events(1)
        assert (mine.event, mine.data["id"]) == ("update", own["id"])


def _post_many(author: User, count: int, text: str = "missed {n}") -> tuple[list[str], int]:
    """``count`` posts: their ids in the order of their positions, and the last position."""
    def one(n: int) -> tuple[int, str]:
        response = author.request("POST", "/api/posts", json={"text": text.format(n=n)})
        assert response.status_code == 201, response.text
        return position(response), response.json()["id"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = sorted(pool.map(one, range(count)))
    return [post_id for _, post_id in made], made[-1][0]


def test_reconnecting_with_last_event_id_delivers_exactly_what_was_missed(
        live_api: Stack, signup: Callable[..., User]) -> None:
    author, reader = follower_of(signup, "resume")
    with open_stream(live_api, "/api/streaming/home", reader) as stream:
        seen = [author.post(f"seen {n}")[0]["id"] for n in range(2)]
        received = stream.next_events(2)
        assert [e.data["id"] for e in received] == seen
    missed, last = _post_many(author, 5)
    reader.home_ids(last)  # the timelines have applied them: their events are published
    with open_stream(live_api, "/api/streaming/home", reader, received[-1].id) as stream:
        again = stream.next_events(5)
        assert [e.event for e in again] == ["update"] * 5
        assert [e.data["id"] for e in again] == missed  # in order, none lost
        assert sorted(again, key=event_key) == again
        later, _ = author.post("after the resume")
        (next_one,) = stream.next_events(1)
        assert next_one.data["id"] == later["id"]  # nothing repeated before it


def test_an_id_too_old_or_malformed_gets_one_reset_then_live_events(
        live_api: Stack, signup: Callable[..., User]) -> None:
    author, reader = follower_of(signup, "reset")
    with open_stream(live_api, "/api/streaming/home", reader) as stream:
        author.post("makes the buffers' head move")
        stream.next_events(1)
    _, newcomer = follower_of(signup, "resetn")
    newcomer.follow(author)
    for stale in ("1-0", "not-an-id", "12"):
        with open_stream(live_api, "/api/streaming/home", newcomer, stale) as stream:
            (reset,) = stream.next_events(1)
            assert reset.event == "reset", reset
            assert reset.id is not None and reset.data["message"]
            stream.quiet_for(1)
    with open_stream(live_api, "/api/streaming/home", newcomer, reset.id) as stream:
        created, _ = author.post("after the reset")
        (update,) = stream.next_events(1)
        assert (update.event, update.data["id"]) == ("update", created["id"])


def test_a_restarted_api_process_loses_nothing_for_a_client_that_reconnects(
        stack: Stack, signup: Callable[..., User], tmp_path_factory: pytest.TempPathFactory
) -> None:
    author, reader = follower_of(signup, "restart")
    with extra_api(stack, tmp_path_factory.mktemp("restart-a")) as first, \
            extra_api(stack, tmp_path_factory.mktemp("restart-b")) as second:
        with open_stream(first, "/api/streaming/home", reader) as stream:
            before, _ = author.post("before the crash")
            (got,) = stream.next_events(1)
            assert got.data["id"] == before["id"]
            first.kill("api")  # SIGKILL: the process serving this client is gone
            with pytest.raises(httpx.HTTPError):
                stream.next_events(1, timeout=20)
        missed, last = _post_many(author, 3, "while down {n}")
        reader.home_ids(last)
        with open_stream(second, "/api/streaming/home", reader, got.id) as stream:
            assert [e.data["id"] for e in stream.next_events(3)] == missed
            after, _ = author.post("after the restart")
            assert [e.data["id"] for e in stream.next_events(1)] == [after["id"]]


def test_the_query_token_never_reaches_a_log_line(
        stack: Stack, live_api: Stack, signup: Callable[..., User]) -> None:
    author, reader = follower_of(signup, "logs")
    with open_stream(live_api, "/api/streaming/home", reader, query_token=True) as stream:
        created, _ = author.post("seen through ?access_token=")
        assert stream.next_events(1)[0].data["id"] == created["id"]
    bad = "not-a-token-" + reader.token[-24:]
    refused = httpx.get(f"{live_api.base_url}/api/streaming/home",
                        params={"access_token": bad}, timeout=10)
    assert_error(refused, 401)
    missing = httpx.get(f"{live_api.base_url}/api/streaming/notifications", timeout=10)
    assert_error(missing, 401, "missing_token")

    def logged() -> str:
        return "\n".join(path.read_text(errors="replace")
                         for directory in (stack.log_dir, live_api.log_dir)
                         for path in directory.glob("*.log"))

    wait_until(lambda: logged().count('"/api/streaming/home"') >= 2,
               failure=lambda: "the stream requests were not logged")
    text = logged()
    assert reader.token not in text and reader.token[-24:] not in text


def test_streams_per_account_are_limited_with_429_and_retry_after(
        live_api: Stack, signup: Callable[..., User]) -> None:
    user = signup("limit")
    with contextlib.ExitStack() as held:
        for n in range(STREAM_LIMIT):
            path = "/api/streaming/home" if n % 2 else "/api/streaming/notifications"
            held.enter_context(open_stream(live_api, path, user))
        refused = httpx.get(f"{live_api.base_url}/api/streaming/home",
                            headers={"Authorization": f"Bearer {user.token}"}, timeout=10)
        error = assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert error["details"]["limit"] == STREAM_LIMIT
        # the headers describe the cap that refused, not the requests budget
        assert refused.headers["X-RateLimit-Limit"] == str(STREAM_LIMIT)
        assert refused.headers["X-RateLimit-Remaining"] == "0"

    def all_reopen() -> bool:  # the slots are released as the streams close
        with contextlib.ExitStack() as again, httpx.Client(base_url=live_api.base_url,
                                                            timeout=10) as client:
            for _ in range(STREAM_LIMIT):
                response = again.enter_context(client.stream(
                    "GET", "/api/streaming/home", headers=user.auth))
                if response.status_code != 200:
                    return False
        return True

    wait_until(all_reopen, timeout=10)


def _opens(api: Stack, user: User) -> bool:
    with httpx.Client(base_url=api.base_url, timeout=10) as client, client.stream(
            "GET", "/api/streaming/home",
            headers={"Authorization": f"Bearer {user.token}"}) as response:
        return response.status_code == 200


# -- a slow client ----------------------------------------------------------------

class RawStream:
    """A client that reads nothing until told: a tiny receive buffer, a raw socket."""

    def __init__(self, api: Stack, user: User) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(20)
        self.sock.connect((api.settings.api_host, api.settings.api_port))
        self.sock.sendall(
            f"GET /api/streaming/home HTTP/1.1\r\nHost: roost\r\n"
            f"Authorization: Bearer {user.token}\r\nAccept: text/event-stream\r\n\r\n"
            .encode())
        self.data = b""

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the server closed the connection"
        self.data += chunk

    def read_to_end(self, timeout: float = 60.0) -> list[Sse]:
        """Everything until the chunked body ends: the items of the stream."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.data:
            self._more()
        head, _, body = self.data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        decoded = b""
        while True:
            assert time.monotonic() < deadline, "the stream did not end"
            line_end = body.find(b"\r\n")
            if line_end < 0:
                self.data = body
                self._more()
                body = self.data
                continue
            size = int(body[:line_end], 16)
            while len(body) < line_end + 2 + size + 2:
                self.data = body
                self._more()
                body = self.data
            if size == 0:
                break
            decoded += body[line_end + 2:line_end + 2 + size]
            body = body[line_end + 2 + size + 2:]
        parser = SseParser()
        found = [parser.feed(line) for line in re.split(r"\r\n|\n|\r", decoded.decode())]
        return [item for item in found if item is not None]

    def close(self) -> None:
        self.sock.close()


def _too_slow_count(api: Stack) -> float:
    metrics = httpx.get(f"{api.base_url}/metrics", timeout=10).text
    found = re.search(r'^roost_live_disconnects_total\{reason="too_slow"\} ([0-9.e+]+)$',
                      metrics, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_a_slow_client_is_disconnected_with_a_reason_and_resumes_exactly(
        stack: Stack, signup: Callable[..., User], tmp_path_factory: pytest.TempPathFactory
) -> None:
    author, reader = follower_of(signup, "slow")
    with extra_api(stack, tmp_path_factory.mktemp("slow-api"), live_queue=4,
                   live_send_timeout_s=120) as api:
        slow = RawStream(api, reader)
        try:
            wait_until(lambda: _opens(api, reader))  # the slow one's stream is open too
            posted: list[str] = []
            deadline = time.monotonic() + 120
            while _too_slow_count(api) < 1:  # until its socket and queue are full
                assert time.monotonic() < deadline and len(posted) < 3000, len(posted)
                more, last = _post_many(author, 20, LONG_TEXT + " {n}")
                posted += more
                reader.home_ids(last)  # applied, published
            received = slow.read_to_end()
        finally:
            slow.close()
        events = [item for item in received if item.comment is None]
        *updates, farewell = events
        assert farewell.event == "disconnect" and farewell.id is None
        assert farewell.data["reason"] == "too_slow" and farewell.data["message"]
        assert all(e.event == "update" for e in updates) and updates
        got = [e.data["id"] for e in updates]
        assert got == posted[:len(got)]  # in order, nothing skipped so far
        with open_stream(api, "/api/streaming/home", reader, updates[-1].id) as stream:
            rest = stream.next_events(len(posted) - len(got), timeout=60)
            assert [e.data["id"] for e in rest] == posted[len(got):]


# -- the notifications stream -----------------------------------------------------

def _like(user: User, post_id: str) -> int:
    return position(user.act("POST", f"/api/posts/{post_id}/like"))


def _rebuild(stack: Stack, name: str) -> None:
    """``roost projections rebuild <name>`` (blue-green), as an operator runs it beside
    the worker (the old copy retired half a second after the switch)."""
    env = {**os.environ, **stack.settings.as_env(), "ROOST_REBUILD_RETIRE_GRACE_S": "0.5"}
    rebuilt = subprocess.run(
        [sys.executable, "-m", "infra.cli", "projections", "rebuild", name],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr


def test_a_like_reaches_the_author_s_notifications_stream_as_its_group(
        live_api: Stack, signup: Callable[..., User]) -> None:
    author, fan, other = signup("ntfa"), signup("ntfb"), signup("ntfc")
    post, _ = author.post("like me, live")
    with open_stream(live_api, "/api/streaming/notifications", author) as stream:
        liked_at = _like(fan, post["id"])
        (first,) = stream.next_events(1)
        assert first.event == "notification"
        assert event_key(first) == (liked_at, 0)  # the like's position, its first event
        group = first.data
        assert (group["type"], group["accounts_count"], group["read"]) == ("like", 1, False)
        assert [a["username"] for a in group["accounts"]] == [fan.username]
        assert group["post"]["id"] == post["id"]
        assert set(group) == {"id", "type", "post", "accounts", "accounts_count",
                              "latest_at", "read"}
        joined_at = _like(other, post["id"])
        (second,) = stream.next_events(1)  # the like joins the group: it comes again
        assert event_key(second) == (joined_at, 0)
        assert (second.data["id"], second.data["accounts_count"]) == (group["id"], 2)
        assert [a["username"] for a in second.data["accounts"]] == \
            [other.username, fan.username]
        listed = author.act("GET", "/api/notifications", min_position=joined_at).json()
        assert listed["items"][0] == second.data  # the stream shows what the list shows
        _like(author, post["id"])  # nobody is notified of their own like
        fan.follow(author)
        (follow,) = stream.next_events(1)
        assert (follow.data["type"], follow.data["accounts_count"]) == ("follow", 1)


def test_a_notifications_stream_resumed_with_last_event_id_gets_exactly_the_missed_ones(
        live_api: Stack, signup: Callable[..., User]) -> None:
    author, first_fan = signup("ntfra"), signup("ntfrb")
    post, _ = author.post("resume my notifications")
    with open_stream(live_api, "/api/streaming/notifications", author) as stream:
        _like(first_fan, post["id"])
        (seen,) = stream.next_events(1)
    fans = [signup("ntfrf") for _ in range(3)]
    missed = [_like(fan, post["id"]) for fan in fans]
    missed.append(fans[0].follow(author))
    # The notifications projection has applied them: their events are published.
    author.act("GET", "/api/notifications", min_position=missed[-1])
    with open_stream(live_api, "/api/streaming/notifications", author, seen.id) as stream:
        again = stream.next_events(len(missed))
        assert [event_key(e) for e in again] == [(at, 0) for at in missed]
        assert [e.data["type"] for e in again] == ["like"] * 3 + ["follow"]
        assert {e.data["id"] for e in again[:3]} == {seen.data["id"]}  # one group, grown
        assert again[2].data["accounts_count"] == 4
        later = _like(signup("ntfrl"), post["id"])
        (next_one,) = stream.next_events(1)
        assert event_key(next_one) == (later, 0)  # nothing repeated before it


def test_rebuilding_the_notifications_projection_sends_nothing_to_connected_streams(
        stack: Stack, live_api: Stack, signup: Callable[..., User]) -> None:
    author, fan, late = signup("ntfxa"), signup("ntfxb"), signup("ntfxc")
    post, _ = author.post("rebuild me")
    with open_stream(live_api, "/api/streaming/notifications", author) as stream:
        _like(fan, post["id"])
        fan.follow(author)
        before = stream.next_events(2)
        _rebuild(stack, "notification_groups")  # re-derives both groups and their ids
        stream.quiet_for(2)
        fresh = _like(late, post["id"])
        (after,) = stream.next_events(1)  # the first event since: nothing was replayed
        assert event_key(after) == (fresh, 0)
        assert after.data["id"] == before[0].data["id"]  # the rebuilt group, same id
        assert after.data["accounts_count"] == 2
    with open_stream(live_api, "/api/streaming/notifications", author, before[-1].id) as again:
        (resumed,) = again.next_events(1)  # the buffer holds no re-derived copy either
        assert resumed.id == after.id
