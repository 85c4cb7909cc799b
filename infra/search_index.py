"""The search index on Elasticsearch 8 (port ``ports.search``), through the official
async client. Names, mappings and query bodies: ``infra.search_schema``.

Writes (``write``): the posts in one ``_bulk`` with ``version_type=external``
(the event position), then each author update (a rename, a suspension or its
lifting) as an ``_update_by_query``, in order, then the
accounts in one ``_bulk``, every step with ``refresh=true`` so that what is
written is searchable before the position says so; the position last, as a
document of the state index whose external version is the position itself
(so it only moves forward, even with two writers). A document refused with
409 is older than what the index holds: a redelivery or an out-of-order
event, counted as ``stale`` and otherwise ignored.

Failures: a server that cannot be reached, times out, or answers 429/5xx is
``ports.errors.DependencyUnavailable`` (the projector backs off and retries;
the API answers 503). A document refused for its content is
``ports.search.SearchWriteError`` (the event is retried, then parked).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import structlog
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, AsyncElasticsearch, BadRequestError, NotFoundError

from infra.metrics import SEARCH_STALE_WRITES, SEARCH_WRITE_SECONDS
from infra.search_schema import (
    ACCOUNTS_MAPPING,
    ADDED_FIELDS,
    POSTS_MAPPING,
    RENAME_SCRIPT,
    STATE_MAPPING,
    SUSPEND_SCRIPT,
    SearchNames,
    account_request,
    analysis,
    post_request,
)
from ports.errors import DependencyUnavailable
from ports.search import (
    AccountDoc,
    AccountSearch,
    Change,
    EraseAuthor,
    Hit,
    PostSearch,
    PostTombstone,
    PutAccount,
    PutPost,
    RenameAuthor,
    SearchQueryRefused,
    SearchWriteError,
    SuspendAuthor,
    Versioned,
    WriteOutcome,
)

log = structlog.get_logger(__name__)

_UNAVAILABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
ERASE_PAGE = 1000
"""Post ids read per page when an erased author's posts are tombstoned."""


def build_client(url: str, request_timeout_s: float) -> AsyncElasticsearch:
    """One client per process: no retries of its own (callers back off), short timeouts."""
    return AsyncElasticsearch(url, request_timeout=request_timeout_s, max_retries=0,
                              retry_on_timeout=False)


@contextlib.asynccontextmanager
async def unavailable_as_dependency() -> AsyncIterator[None]:
    """Turn "the server is not there / overloaded" into ``DependencyUnavailable``."""
    try:
        yield
    except (TransportConnectionError, ConnectionTimeout) as error:
        raise DependencyUnavailable(f"Elasticsearch: {error}") from error
    except ApiError as error:
        if error.meta.status in _UNAVAILABLE_STATUSES:
            raise DependencyUnavailable(f"Elasticsearch {error.meta.status}") from error
        raise
    except TransportError as error:
        raise DependencyUnavailable(f"Elasticsearch: {error}") from error


def _missing_index(error: NotFoundError) -> bool:
    return str(error.error) == "index_not_found_exception"


def _post_source(change: PutPost | PostTombstone) -> dict[str, Any]:
    if isinstance(change, PostTombstone):
        return {"post_id": change.post_id, "author_id": change.author_id, "deleted": True}
    doc = change.doc
    source: dict[str, Any] = {
        "post_id": doc.post_id, "author_id": doc.author_id,
        "author_username": doc.author_username, "author_display_name": doc.author_display_name,
        "author_position": doc.author_position, "text": doc.text,
        "hashtags": list(doc.hashtags), "mentions": list(doc.mentions),
        "created_at": doc.created_at, "created_ms": _epoch_ms(doc.created_at),
        "deleted": False}
    if doc.author_suspended:  # present only while true (infra.search_schema)
        source["author_suspended"] = True
    return source


def _epoch_ms(rfc3339: str) -> int:
    """Milliseconds since 1970 of an RFC 3339 time (the score script reads them)."""
    return round(datetime.fromisoformat(rfc3339).timestamp() * 1000)


def _account_source(doc: AccountDoc) -> dict[str, Any]:
    source: dict[str, Any] = {
        "account_id": doc.account_id, "aggregate_id": doc.aggregate_id,
        "username": doc.username, "display_name": doc.display_name,
        "followers_count": doc.followers_count, "profile_position": doc.profile_position,
        "created_at": doc.created_at}
    if doc.suspended:  # present only while true (infra.search_schema)
        source["suspended"] = True
    return source


def _account(source: dict[str, Any]) -> AccountDoc:
    return AccountDoc(
        account_id=int(source["account_id"]), aggregate_id=str(source["aggregate_id"]),
        username=str(source["username"]), display_name=str(source["display_name"]),
        followers_count=int(source["followers_count"]),
        profile_position=int(source["profile_position"]),
        created_at=str(source["created_at"]), suspended=bool(source.get("suspended", False)))


class ElasticsearchIndex:
    """``SearchIndexWriter`` and ``SearchIndexReader`` over one cluster."""

    def __init__(self, client: AsyncElasticsearch, names: SearchNames,
                 stemmer: str = "light_english", rename_timeout_s: float = 300.0) -> None:
        self.client = client
        self.names = names
        self.settings = {"analysis": analysis(stemmer)}
        self.rename_timeout_s = rename_timeout_s
        self._ready = False

    async def close(self) -> None:
        await self.client.close()

    # -- set-up ----------------------------------------------------------

    async def ensure(self) -> None:
        """Create this generation's indices if missing, and put the fields added to
        their mappings since (``ADDED_FIELDS``) into existing ones; point each alias at
        its index if the alias does not exist yet (an alias already set, maybe to
        another generation, is left alone: switching is an operator's step)."""
        if self._ready:
            return
        async with unavailable_as_dependency():
            for index, alias, mapping, added in (
                    (self.names.posts_index, self.names.posts, POSTS_MAPPING,
                     ADDED_FIELDS["posts"]),
                    (self.names.accounts_index, self.names.accounts, ACCOUNTS_MAPPING,
                     ADDED_FIELDS["accounts"]),
                    (self.names.state_index, None, STATE_MAPPING, ())):
                if not await self._create(index, mapping) and added:
                    await self.client.indices.put_mapping(index=index, properties={
                        name: mapping["properties"][name] for name in added})
                if alias is not None and not await self.client.indices.exists_alias(
                        name=alias):
                    await self.client.indices.put_alias(index=index, name=alias)
        self._ready = True

    async def _create(self, index: str, mapping: dict[str, Any]) -> bool:
        """Create ``index`` with ``mapping``; False when it was there already."""
        if await self.client.indices.exists(index=index):
            return False
        try:
            await self.client.indices.create(index=index, settings=self.settings,
                                             mappings=mapping)
        except BadRequestError as error:
            if str(error.error) != "resource_already_exists_exception":
                raise
            return False  # another process created it meanwhile: fine
        return True

    async def reset(self) -> None:
        async with unavailable_as_dependency():
            await self.client.indices.delete(
                index=[self.names.posts_index, self.names.accounts_index],
                ignore_unavailable=True)
            with contextlib.suppress(NotFoundError):
                await self.client.delete(index=self.names.state_index, id=self.names.state_id,
                                         refresh=True)
        self._ready = False
        await self.ensure()

    async def drop(self) -> None:
        """Delete this generation's indices and the state index (tests, teardown)."""
        async with unavailable_as_dependency():
            await self.client.indices.delete(
                index=[self.names.posts_index, self.names.accounts_index,
                       self.names.state_index], ignore_unavailable=True)
        self._ready = False

    # -- the writer --------------------------------------------------------

    def pinned(self) -> AbstractAsyncContextManager[None]:
        """Nothing to pin: this adapter writes the generation it was made for."""
        return contextlib.nullcontext()

    async def position(self) -> int:
        async with unavailable_as_dependency():
            try:
                found = await self.client.get(index=self.names.state_index,
                                              id=self.names.state_id)
            except NotFoundError as error:
                if _missing_index(error):
                    self._ready = False  # wiped: create the indices again before writing
                return 0
        return int(found["_source"]["position"])

    async def accounts(self, account_ids: Sequence[int] = (), aggregate_ids: Sequence[str] = ()
                       ) -> dict[int, Versioned]:
        await self.ensure()
        found: dict[int, Versioned] = {}
        async with unavailable_as_dependency():
            if account_ids:
                answer = await self.client.mget(index=self.names.accounts_index,
                                                ids=[str(i) for i in account_ids])
                for doc in answer["docs"]:
                    if doc.get("found"):
                        found[int(doc["_id"])] = Versioned(int(doc["_version"]),
                                                           _account(doc["_source"]))
            if aggregate_ids:
                answer = await self.client.search(
                    index=self.names.accounts_index, size=len(aggregate_ids), version=True,
                    query={"terms": {"aggregate_id": list(aggregate_ids)}})
                for hit in answer["hits"]["hits"]:
                    found[int(hit["_id"])] = Versioned(int(hit["_version"]),
                                                       _account(hit["_source"]))
        return found

    async def write(self, changes: Sequence[Change], upto: int | None) -> WriteOutcome:
        await self.ensure()
        posts = [c for c in changes if isinstance(c, PutPost | PostTombstone)]
        updates = [c for c in changes if isinstance(c, RenameAuthor | SuspendAuthor)]
        accounts = [c for c in changes if isinstance(c, PutAccount)]
        erasures = [c for c in changes if isinstance(c, EraseAuthor)]
        with SEARCH_WRITE_SECONDS.time():
            async with unavailable_as_dependency():
                written, stale = await self._bulk(self.names.posts_index, [
                    (str(_post_source(c)["post_id"]), c.version, _post_source(c))
                    for c in posts])
                renamed = 0
                for update in updates:
                    renamed += await self._update_author(update)
                more, older = await self._bulk(self.names.accounts_index, [
                    (str(c.doc.account_id), c.version, _account_source(c.doc))
                    for c in accounts])
                for erase in erasures:
                    written += await self._erase(erase)
                if upto is not None:
                    await self._record(upto)
        if stale or older:
            SEARCH_STALE_WRITES.inc(stale + older)
        return WriteOutcome(written + more, stale + older, renamed)

    async def _bulk(self, index: str, docs: list[tuple[str, int, dict[str, Any]]]
                    ) -> tuple[int, int]:
        """Index ``(id, version, source)`` guarded by version; (written, stale)."""
        if not docs:
            return 0, 0
        operations: list[dict[str, Any]] = []
        for doc_id, version, source in docs:
            operations += [{"index": {"_index": index, "_id": doc_id, "version": version,
                                      "version_type": "external"}}, source]
        answer = await self.client.bulk(operations=operations, refresh=True)
        written = stale = 0
        for item in answer["items"]:
            result = item["index"]
            status = int(result["status"])
            if status < 300:
                written += 1
            elif status == 409:
                stale += 1
            elif status in _UNAVAILABLE_STATUSES:
                raise DependencyUnavailable(f"Elasticsearch bulk item {status}")
            else:
                raise SearchWriteError(f"{index}/{result.get('_id')}: "
                                       f"{str(result.get('error'))[:300]}")
        return written, stale

    async def _update_author(self, update: RenameAuthor | SuspendAuthor) -> int:
        """The author's posts not updated at ``update.position`` or later (tombstones
        have no ``author_position`` and are left alone): a rename sets the display name,
        a suspension the ``author_suspended`` flag (removed when lifted)."""
        what = "rename" if isinstance(update, RenameAuthor) else "suspension"
        script = {"source": RENAME_SCRIPT, "lang": "painless",
                  "params": {"name": update.display_name, "position": update.position}} \
            if isinstance(update, RenameAuthor) else \
            {"source": SUSPEND_SCRIPT, "lang": "painless",
             "params": {"suspended": update.suspended, "position": update.position}}
        answer = await self.client.options(request_timeout=self.rename_timeout_s)\
            .update_by_query(
                index=self.names.posts_index, refresh=True, conflicts="proceed",
                query={"bool": {"filter": [
                    {"term": {"author_id": update.author_id}},
                    {"range": {"author_position": {"lt": update.position}}}]}},
                script=script)
        if answer.get("failures"):
            raise SearchWriteError(f"{what} of {update.author_id}: "
                                   f"{str(answer['failures'])[:300]}")
        if answer.get("version_conflicts"):  # a post changed meanwhile: another writer
            raise SearchWriteError(f"{what} of {update.author_id}: a post changed meanwhile")
        return int(answer.get("updated", 0))

    async def _erase(self, erase: EraseAuthor) -> int:
        """Tombstone every post of the author at ``erase.position`` (pages of its post
        ids, then one bulk each) and delete its account document; the posts written."""
        written = 0
        after: list[int] | None = None
        while True:
            extra: dict[str, Any] = {"search_after": after} if after else {}
            try:
                answer = await self.client.search(
                    index=self.names.posts_index, query={"term": {"author_id": erase.account_id}},
                    sort=[{"post_id": "asc"}], size=ERASE_PAGE, source=False,
                    track_total_hits=False, **extra)
            except NotFoundError as error:
                if _missing_index(error):
                    break
                raise
            hits = answer["hits"]["hits"]
            tombstones = [PostTombstone(erase.position, int(hit["_id"]), erase.account_id)
                          for hit in hits]
            done, _ = await self._bulk(self.names.posts_index, [
                (str(t.post_id), t.version, _post_source(t)) for t in tombstones])
            written += done
            if len(hits) < ERASE_PAGE:
                break
            after = [int(x) for x in hits[-1]["sort"]]
        with contextlib.suppress(NotFoundError):  # never indexed, or deleted before
            await self.client.delete(index=self.names.accounts_index,
                                     id=str(erase.account_id), refresh=True)
        return written

    async def _record(self, position: int) -> None:
        try:
            await self.client.index(index=self.names.state_index, id=self.names.state_id,
                                    document={"position": position}, version=position,
                                    version_type="external")
        except ApiError as error:
            if error.meta.status != 409:  # 409: a position as high is already recorded
                raise

    # -- the reader --------------------------------------------------------

    async def search_posts(self, search: PostSearch) -> list[Hit]:
        return await self._search(self.names.posts, post_request(search), search.after,
                                  search.size)

    async def search_accounts(self, search: AccountSearch) -> list[Hit]:
        return await self._search(self.names.accounts, account_request(search), search.after,
                                  search.size)

    async def _search(self, index: str, request: dict[str, Any],
                      after: tuple[float | int, ...] | None, size: int) -> list[Hit]:
        extra: dict[str, Any] = {"search_after": list(after)} if after else {}
        async with unavailable_as_dependency():
            try:
                answer = await self.client.search(
                    index=index, query=request["query"], sort=request["sort"], size=size,
                    source=False, track_total_hits=False, **extra)
            except NotFoundError as error:
                if _missing_index(error):
                    return []  # nothing indexed yet
                raise
            except BadRequestError as error:
                log.error("search.query_refused", index=index, error=str(error)[:500])
                raise SearchQueryRefused(str(error)[:500]) from error
        return [Hit(int(hit["_id"]), tuple(hit["sort"])) for hit in answer["hits"]["hits"]]
