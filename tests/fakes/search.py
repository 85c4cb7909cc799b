"""An in-memory search index (ports ``SearchIndexWriter`` and ``SearchIndexReader``).

It keeps the port's rules exactly (external versions, tombstones, guarded renames,
a position that only moves forward, deterministic scores and ``search_after``
paging) with a much simpler analysis than Elasticsearch: words are runs of
letters, digits and ``_``, lower-cased and stripped of accents; the "stem" of a
word drops a final ``s``. The contract tests (``tests/contracts/search.py``)
use only what both analyses agree on.
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from infra.search_schema import RESOLUTION
from ports import search as port
from ports.errors import DependencyUnavailable
from ports.search import (
    AccountDoc,
    AccountSearch,
    Change,
    Hit,
    PostDoc,
    PostSearch,
    PostTombstone,
    RenameAuthor,
    SuspendAuthor,
    Versioned,
    WriteOutcome,
)

_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _ms(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339).timestamp() * 1000)


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _contains_run(tokens: list[str], run: list[str]) -> bool:
    return any(tokens[i:i + len(run)] == run for i in range(len(tokens) - len(run) + 1))


@dataclass
class _Post:
    version: int
    doc: PostDoc | None  # None: a tombstone


def _after(key: tuple[Any, ...], after: tuple[Any, ...] | None, descending: tuple[bool, ...]
           ) -> bool:
    """Whether ``key`` sorts strictly after ``after`` (each part descending or not)."""
    if after is None:
        return True
    for mine, theirs, desc in zip(key, after, descending, strict=True):
        if mine != theirs:
            return bool(mine < theirs) if desc else bool(mine > theirs)
    return False


class MemorySearchIndex:
    def __init__(self) -> None:
        self.posts: dict[int, _Post] = {}
        self.account_docs: dict[int, Versioned] = {}
        self.recorded = 0
        self.unavailable = False

    def _check(self) -> None:
        if self.unavailable:
            raise DependencyUnavailable("the fake search index is down")

    # -- writer ------------------------------------------------------------

    async def position(self) -> int:
        self._check()
        return self.recorded

    async def accounts(self, account_ids: Sequence[int] = (), aggregate_ids: Sequence[str] = ()
                       ) -> dict[int, Versioned]:
        self._check()
        wanted = set(aggregate_ids)
        return {i: v for i, v in self.account_docs.items()
                if i in account_ids or v.doc.aggregate_id in wanted}

    def pinned(self) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    async def write(self, changes: Sequence[Change], upto: int | None) -> WriteOutcome:
        self._check()
        written = stale = renamed = 0
        ordered = [c for c in changes if isinstance(c, port.PutPost | PostTombstone)] + \
            [c for c in changes if isinstance(c, RenameAuthor | SuspendAuthor)] + \
            [c for c in changes if isinstance(c, port.PutAccount)]
        for change in [*ordered, *(c for c in changes if isinstance(c, port.EraseAuthor))]:
            if isinstance(change, port.EraseAuthor):
                written += self._erase(change)
                continue
            if isinstance(change, RenameAuthor | SuspendAuthor):
                renamed += self._update_author(change)
                continue
            if isinstance(change, port.PutAccount):
                held = self.account_docs.get(change.doc.account_id)
                fresh = held is None or change.version > held.version
                if fresh:
                    self.account_docs[change.doc.account_id] = Versioned(change.version,
                                                                         change.doc)
            else:
                post_id = change.post_id if isinstance(change, PostTombstone) \
                    else change.doc.post_id
                stored = self.posts.get(post_id)
                fresh = stored is None or change.version > stored.version
                if fresh:
                    self.posts[post_id] = _Post(change.version, None if isinstance(
                        change, PostTombstone) else change.doc)
            written, stale = (written + 1, stale) if fresh else (written, stale + 1)
        if upto is not None:
            self.recorded = max(self.recorded, upto)
        return WriteOutcome(written, stale, renamed)

    def _erase(self, erase: port.EraseAuthor) -> int:
        count = 0
        for post_id, post in list(self.posts.items()):
            if post.doc is not None and post.doc.author_id == erase.account_id \
                    and erase.position > post.version:
                self.posts[post_id] = _Post(erase.position, None)
                count += 1
        self.account_docs.pop(erase.account_id, None)
        return count

    def _update_author(self, update: RenameAuthor | SuspendAuthor) -> int:
        count = 0
        for post in self.posts.values():
            doc = post.doc
            if doc is not None and doc.author_id == update.author_id and \
                    doc.author_position < update.position:
                post.doc = replace(doc, author_display_name=update.display_name) \
                    if isinstance(update, RenameAuthor) \
                    else replace(doc, author_suspended=update.suspended)
                post.doc = replace(post.doc, author_position=update.position)
                post.version += 1  # as update_by_query does
                count += 1
        return count

    async def reset(self) -> None:
        self._check()
        self.posts.clear()
        self.account_docs.clear()
        self.recorded = 0

    # -- reader ------------------------------------------------------------

    def _matches(self, doc: PostDoc, search: PostSearch) -> bool:
        text = words(doc.text)
        if search.words:
            wanted = [w for w in (words(" ".join(search.words))) if w]
            stems = {stem(t) for t in text}
            in_text = all(stem(w) in stems for w in wanted)
            in_name = all(w in words(doc.author_display_name) for w in wanted)
            if not (in_text or in_name):
                return False
        created = _ms(doc.created_at)
        return (
            all(_contains_run(text, words(p)) for p in search.phrases)
            and all(tag in doc.hashtags for tag in search.tags)
            and (not search.authors
                 or fold(doc.author_username) in {fold(a) for a in search.authors})
            and (search.on_or_after is None or created >= _day_ms(search.on_or_after))
            and (search.before is None or created < _day_ms(search.before))
            and doc.author_id not in search.hidden_authors
            and not doc.author_suspended
        )

    def _score(self, doc: PostDoc, search: PostSearch) -> float:
        score = 1.0
        wanted = words(" ".join(search.words))
        text = words(doc.text)
        if wanted and all(w in text for w in wanted):
            score += 1
        if len(wanted) > 1 and _contains_run(text, wanted):
            score += 1
        days = abs(search.origin_ms - _ms(doc.created_at)) / 86_400_000
        return float(math.floor(score * RESOLUTION * math.pow(0.5, days / search.half_life_days)))

    async def search_posts(self, search: PostSearch) -> list[Hit]:
        self._check()
        found = [p.doc for p in self.posts.values()
                 if p.doc is not None and self._matches(p.doc, search)]
        if search.order == "newest":
            keyed: list[tuple[tuple[Any, ...], int]] = [((d.post_id,), d.post_id)
                                                        for d in found]
            descending: tuple[bool, ...] = (True,)
        else:
            keyed = [((self._score(d, search), d.post_id), d.post_id) for d in found]
            descending = (True, True)
        keyed.sort(key=lambda k: tuple(-part for part in k[0]))
        page = [Hit(i, key) for key, i in keyed if _after(key, search.after, descending)]
        return page[:search.size]

    async def search_accounts(self, search: AccountSearch) -> list[Hit]:
        self._check()
        query = [w.removeprefix("@") for w in search.text.split()]
        tokens = [t for w in query for t in words(w)]
        exact = " ".join(query).lower()
        keyed = []
        for account_id, stored in self.account_docs.items():
            doc = stored.doc
            name_words = words(doc.display_name)
            by_username = bool(tokens) and all(fold(doc.username).startswith(t)
                                               for t in tokens)
            by_name = bool(tokens) and all(any(n.startswith(t) for n in name_words)
                                           for t in tokens)
            if (by_username or by_name) and account_id not in search.hidden_accounts \
                    and not doc.suspended:
                score = 1.0 if doc.username.lower() == exact else 0.0
                keyed.append(((score, doc.followers_count, account_id), account_id))
        keyed.sort(key=lambda k: (-k[0][0], -k[0][1], k[0][2]))
        page = [Hit(i, key) for key, i in keyed
                if _after(key, search.after, (True, True, False))]
        return page[:search.size]

    # test helpers --------------------------------------------------------

    def stored_post(self, post_id: int) -> PostDoc | None:
        post = self.posts.get(post_id)
        return post.doc if post else None

    def stored_account(self, account_id: int) -> AccountDoc | None:
        held = self.account_docs.get(account_id)
        return held.doc if held else None
