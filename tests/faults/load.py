"""A steady write load that retries like a careful client, and remembers everything.

Each write (a post, a like, a follow) gets its own ``Idempotency-Key`` and is
sent, and re-sent with the SAME key after any non-2xx answer or connection
error, until it is acknowledged (2xx) or the load is stopped. Every answer is
recorded with its time and latency, so a test can check afterwards what was
acknowledged, what was refused, and how the API behaved while a fault lasted.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.conftest import wait_until

RETRY_PAUSE_S = 0.2  # longest pause between two tries of one write
REQUEST_TIMEOUT_S = 10.0
# 4xx answers that say "not now" rather than "no": timeout, Idempotency-Key still
# in flight, rate limited. A write last answered so is undecided, not refused.
UNDECIDED_4XX = frozenset({408, 409, 429})


@dataclass(frozen=True)
class LoadUser:
    """A signed-up account the load writes as."""

    username: str
    id: str
    token: str


@dataclass
class Answer:
    """One try of a write: ``status`` None when the request failed without an answer."""

    at: float  # time.monotonic() when sent
    elapsed_s: float
    status: int | None
    retry_after: str | None = None
    body: str = ""
    error: str = ""


@dataclass
class Write:
    """One logical write and every try of it, all with the same key."""

    key: str
    kind: str  # "post" | "like" | "follow"
    actor: LoadUser
    method: str
    path: str
    body: dict[str, Any] | None
    target: str  # the post text, the liked post's id, or the followed username
    answers: list[Answer] = field(default_factory=list)
    position: int | None = None  # Roost-Position of the acknowledgement
    result: dict[str, Any] | None = None

    @property
    def acked(self) -> bool:
        return self.position is not None

    @property
    def refused(self) -> bool:
        """The last answer was a definitive refusal (a 4xx a retry cannot change)."""
        last = self.answers[-1] if self.answers else None
        return (not self.acked and last is not None and last.status is not None
                and 400 <= last.status < 500 and last.status not in UNDECIDED_4XX)


class WriteLoad:
    """``rate`` writes per second from ``threads`` threads, as ``users``."""

    def __init__(self, base_url: str, users: list[LoadUser], rate: float = 40.0,
                 threads: int = 4, seed: int = 0) -> None:
        self.base_url = base_url
        self.users = users
        self.writes: list[Write] = []
        self._rate_per_thread = rate / threads
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True,
                                          name=f"load-{n}") for n in range(threads)]
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._serial = itertools.count()
        self._posts: list[tuple[str, LoadUser]] = []  # acknowledged (post id, author)
        self._likes: set[tuple[str, str]] = set()  # (username, post id) claimed
        self._follows: set[tuple[str, str]] = set()  # (follower, followee) claimed
        self._stop_new = threading.Event()
        self._drain_until = float("inf")
        self._stopped = threading.Event()

    # --- control -------------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, drain_s: float = 20.0) -> None:
        """No new writes; writes under way keep retrying for up to ``drain_s``."""
        self._drain_until = time.monotonic() + drain_s
        self._stop_new.set()
        for thread in self._threads:
            thread.join(drain_s + REQUEST_TIMEOUT_S + 5)
        self._stopped.set()

    def acked_count(self) -> int:
        with self._lock:
            return sum(1 for w in self.writes if w.acked)

    def wait_acked(self, count: int, timeout: float) -> None:
        """Until at least ``count`` writes are acknowledged; fail after ``timeout`` s."""
        wait_until(lambda: self.acked_count() >= count, timeout, failure=lambda: (
            f"only {self.acked_count()} of {count} writes acknowledged within {timeout}s: "
            f"{self.summary()}"))

    def wait_tries_since(self, since: float, count: int, timeout: float) -> None:
        """Until ``count`` tries were sent at or after ``since`` (``time.monotonic()``),
        i.e. the load has run into whatever happened then; fail after ``timeout`` s."""
        def tries() -> int:
            with self._lock:
                return sum(1 for w in self.writes for a in w.answers if a.at >= since)
        wait_until(lambda: tries() >= count, timeout,
                   failure=lambda: f"only {tries()} of {count} tries within {timeout}s")

    def summary(self) -> dict[str, Any]:
        """Counts of writes and of answers by status, for failure messages."""
        with self._lock:
            statuses: dict[str, int] = {}
            for write in self.writes:
                for answer in write.answers:
                    name = str(answer.status) if answer.status else "error"
                    statuses[name] = statuses.get(name, 0) + 1
            return {"writes": len(self.writes),
                    "acked": sum(1 for w in self.writes if w.acked),
                    "refused": sum(1 for w in self.writes if w.refused),
                    "answers": statuses}

    # --- the threads ---------------------------------------------------------------------

    def _run(self, _n: int) -> None:
        interval = 1.0 / self._rate_per_thread
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT_S) as client:
            next_at = time.monotonic()
            while not self._stop_new.is_set():
                write = self._next_write()
                self._complete(client, write)
                next_at = max(next_at + interval, time.monotonic() - interval)
                self._stop_new.wait(max(0.0, next_at - time.monotonic()))

    def _complete(self, client: httpx.Client, write: Write) -> None:
        while time.monotonic() < self._drain_until:
            answer = self._try(client, write)
            with self._lock:
                write.answers.append(answer)
                if write.acked:
                    self._acknowledged(write)
                    return
            pause = RETRY_PAUSE_S
            if answer.retry_after and answer.retry_after.isdigit():
                pause = min(pause, float(answer.retry_after))
            time.sleep(pause)

    def _try(self, client: httpx.Client, write: Write) -> Answer:
        headers = {"Authorization": f"Bearer {write.actor.token}",
                   "Idempotency-Key": write.key}
        sent = time.monotonic()
        try:
            response = client.request(write.method, write.path, json=write.body,
                                      headers=headers)
        except httpx.HTTPError as error:
            return Answer(sent, time.monotonic() - sent, None,
                          error=f"{type(error).__name__}: {error}")
        answer = Answer(sent, time.monotonic() - sent, response.status_code,
                        response.headers.get("Retry-After"), response.text[:300])
        if response.is_success:
            write.position = int(response.headers["Roost-Position"])
            write.result = response.json()
        return answer

    def _acknowledged(self, write: Write) -> None:
        if write.kind == "post" and write.result is not None:
            self._posts.append((str(write.result["id"]), write.actor))

    # --- choosing writes -----------------------------------------------------------------

    def _next_write(self) -> Write:
        with self._lock:
            roll = self._random.random()
            actor = self._random.choice(self.users)
            write = None
            if roll < 0.35:
                write = self._like(actor)
            elif roll < 0.6:
                write = self._follow(actor)
            write = write or self._post(actor)
            self.writes.append(write)
            return write

    def _post(self, actor: LoadUser) -> Write:
        text = f"fault load {next(self._serial)} {uuid.uuid4().hex[:12]}"
        return Write(uuid.uuid4().hex, "post", actor, "POST", "/api/posts", {"text": text},
                     text)

    def _like(self, actor: LoadUser) -> Write | None:
        for post_id, _author in self._random.sample(self._posts, min(8, len(self._posts))):
            if (actor.username, post_id) not in self._likes:
                self._likes.add((actor.username, post_id))
                return Write(uuid.uuid4().hex, "like", actor, "POST",
                             f"/api/posts/{post_id}/like", None, post_id)
        return None

    def _follow(self, actor: LoadUser) -> Write | None:
        others = [u for u in self.users if u.username != actor.username
                  and (actor.username, u.username) not in self._follows]
        if not others:
            return None
        followee = self._random.choice(others)
        self._follows.add((actor.username, followee.username))
        return Write(uuid.uuid4().hex, "follow", actor, "POST",
                     f"/api/accounts/{followee.username}/follow", None, followee.username)
