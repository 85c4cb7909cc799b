"""Search: the index finds, the caches and read models show.

The index (port ``ports.search.SearchIndexReader``) answers with ids in order;
posts are then hydrated exactly as timelines are (``queries.hydration.hydrate``),
so a post deleted after the index last saw it, or whose author the reader
blocks or mutes, is left out, and counts and author fields are current.
The reader's blocks (both ways) and mutes also go into the index query, so
pages stay full. Accounts are read from the read models (``ReadModelReader.accounts_by_id``).

Paging is ``search_after`` only, never an offset: the cursor carries the sort
key of the last hit (and, for relevance, the instant the decay is measured
from, fixed on the first page), so every page continues exactly where the
last one ended.

| list | order | cursor (before base64url) |
|---|---|---|
| posts (``type=posts``) | relevance with recency, then id | ``p1:<origin ms>:<score>:<post id>`` |
| accounts | exact username, followers, id | ``a1:<score>:<followers>:<account id>`` |
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from dataclasses import replace

from domain.errors import ValidationFailed
from ports.search import AccountSearch, Hit, PostSearch, SearchIndexReader, SearchQueryRefused
from queries.context import QueryContext
from queries.hydration import hydrate
from queries.search_grammar import has_word_character, is_empty, parse, plain_words
from queries.shapes import Account, Page, Post, account_of_row, page
from queries.visibility import hidden_for

_INT = r"(0|[1-9][0-9]{0,18})"
_FLOAT = r"([0-9][0-9.e+-]{0,30})"
_POSTS_CURSOR = re.compile(rf"p1:{_INT}:{_FLOAT}:{_INT}")
_ACCOUNTS_CURSOR = re.compile(rf"a1:{_FLOAT}:{_INT}:{_INT}")
MAX_ID = 2**63 - 1


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed({"cursor": "is not a cursor this API issued"},
                            code="invalid_cursor")


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, pattern: re.Pattern[str]) -> re.Match[str]:
    """The fields of a cursor we issued; 422 ``invalid_cursor`` for anything else."""
    body = cursor.rstrip("=")
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        text = raw.decode("ascii")
    except (binascii.Error, ValueError):
        raise _invalid_cursor() from None
    match = pattern.fullmatch(text)
    if match is None or _encode(text) != body:
        raise _invalid_cursor()
    return match


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _invalid_cursor() from None
    if not math.isfinite(value) or value < 0:
        raise _invalid_cursor()
    return value


def _id(text: str) -> int:
    value = int(text)
    if value > MAX_ID:
        raise _invalid_cursor()
    return value


def decode_posts_cursor(cursor: str | None, now_ms: int) -> tuple[int, tuple[float, int] | None]:
    """(the origin of the decay, the key to start after) of a post search page."""
    if cursor is None:
        return now_ms, None
    origin, score, post_id = _decode(cursor, _POSTS_CURSOR).groups()
    return _id(origin), (_score(score), _id(post_id))


def encode_posts_cursor(origin_ms: int, key: tuple[float | int, ...]) -> str:
    score, post_id = key
    return _encode(f"p1:{origin_ms}:{float(score)!r}:{int(post_id)}")


def decode_accounts_cursor(cursor: str | None) -> tuple[float, int, int] | None:
    if cursor is None:
        return None
    score, followers, account_id = _decode(cursor, _ACCOUNTS_CURSOR).groups()
    return _score(score), _id(followers), _id(account_id)


def encode_accounts_cursor(key: tuple[float | int, ...]) -> str:
    score, followers, account_id = key
    return _encode(f"a1:{float(score)!r}:{int(followers)}:{int(account_id)}")


def _next(hits: list[Hit], limit: int) -> Hit | None:
    """The last hit of a full page when more follow (one extra hit was asked for)."""
    return hits[limit - 1] if len(hits) > limit else None


async def _hidden(ctx: QueryContext, reader_id: int | None, *, mutes: bool) -> frozenset[int]:
    if reader_id is None:
        return frozenset()
    hidden = await hidden_for(ctx.read_models, reader_id)
    return hidden.blocked | hidden.muted if mutes else hidden.blocked


async def search_posts(
    ctx: QueryContext, index: SearchIndexReader, query: str, reader_id: int | None,
    cursor: str | None, limit: int, *, now_ms: int, half_life_days: float,
) -> Page[Post]:
    """A page of Post for ``query`` (``queries.search_grammar``), best first.

    A query the index refuses (``SearchQueryRefused``) is searched again as plain
    words; refused again, the page is empty. Raises ``ValidationFailed`` for a
    cursor not issued here, ``DependencyUnavailable`` when the index is down.
    """
    origin_ms, after = decode_posts_cursor(cursor, now_ms)
    parsed = parse(query)
    if is_empty(parsed):
        return page([], None)
    hidden = await _hidden(ctx, reader_id, mutes=True)

    def complete(conditions: PostSearch) -> PostSearch:
        return replace(conditions, hidden_authors=hidden, origin_ms=origin_ms,
                       half_life_days=half_life_days, after=after, size=limit + 1)

    try:
        hits = await index.search_posts(complete(parsed))
    except SearchQueryRefused:
        try:
            hits = await index.search_posts(complete(plain_words(query)))
        except SearchQueryRefused:
            hits = []
    items = await hydrate(ctx, [(hit.id, None) for hit in hits[:limit]], reader_id,
                          hide_muted=True)
    last = _next(hits, limit)
    return page(items, encode_posts_cursor(origin_ms, last.sort_key) if last else None)


async def search_accounts(
    ctx: QueryContext, index: SearchIndexReader, query: str, reader_id: int | None,
    cursor: str | None, limit: int,
) -> Page[Account]:
    """A page of Account whose username or display-name words start with ``query``:
    the exact username first, then by followers. Accounts in a block with the reader
    are left out (a muted account stays findable, so it can be unmuted)."""
    after = decode_accounts_cursor(cursor)
    text = " ".join(unicodedata.normalize("NFC", query).split())
    if not has_word_character(text):
        return page([], None)
    hits = await index.search_accounts(AccountSearch(
        text, hidden_accounts=await _hidden(ctx, reader_id, mutes=False), after=after,
        size=limit + 1))
    ids = [hit.id for hit in hits[:limit]]
    rows = {row["id"]: account_of_row(row) for row in await ctx.read_models.accounts_by_id(ids)}
    last = _next(hits, limit)
    return page([rows[i] for i in ids if i in rows],
                encode_accounts_cursor(last.sort_key) if last else None)
