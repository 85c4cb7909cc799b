"""Copies of the search index for blue-green rebuilds: index generations behind the
aliases (``infra.search_schema.SearchNames``: copy N is ``roost-posts-vN`` and
``roost-accounts-vN`` with the position document ``vN``).

``FollowingSearchIndex`` is the live writer and reader the composition root
builds: it reads which generation the posts alias points at (one ``GET _alias``)
once per apply (``pinned``, entered by ``SearchProjector.apply_batch`` under the
projector's lease) and before each call made outside an apply (a park's
``advance``, a replay, a reset), so once a rebuild has moved the aliases (one
``POST _aliases`` with remove and add actions for both, atomic in Elasticsearch)
the live projector writes the new generation. The switch holds the search
projector's lease, under which every live apply runs, so no live write lands in
the old generation after it: the next apply reads the alias again under the lease.
(A holder whose lease lapsed during a stall could still finish its apply on the
old generation, as before the pin it could between its alias read and its bulk.)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch, NotFoundError
from elasticsearch.helpers import async_scan

from infra.search_index import ElasticsearchIndex, unavailable_as_dependency
from infra.search_schema import SearchNames
from ports.search import Change, Versioned, WriteOutcome

_GENERATION = re.compile(r"-v(\d+)$")


async def live_generation(client: AsyncElasticsearch, names: SearchNames) -> int | None:
    """The generation the posts alias points at; None when there is no alias yet."""
    async with unavailable_as_dependency():
        try:
            found = await client.indices.get_alias(name=names.posts)
        except NotFoundError:
            return None
    for index in found:
        match = _GENERATION.search(index)
        if match:
            return int(match.group(1))
    return None


class FollowingSearchIndex(ElasticsearchIndex):
    """An ``ElasticsearchIndex`` that writes, and reads its position from, whichever
    generation the aliases point at (the configured one until there is an alias).

    Inside ``pinned`` (one apply of the projector, under its lease, which a switch
    also holds) the alias is read once, on entering; outside it, before each call."""

    _pins = 0  # how many pinned() blocks are open

    @contextlib.asynccontextmanager
    async def pinned(self) -> AsyncIterator[None]:
        await self._read_alias()  # even when nested: a pin starts from the alias
        self._pins += 1
        try:
            yield
        finally:
            self._pins -= 1

    async def _follow(self) -> None:
        if self._pins:
            return
        await self._read_alias()

    async def _read_alias(self) -> None:
        generation = await live_generation(self.client, self.names)
        if generation is not None and generation != self.names.generation:
            self.names = SearchNames(self.names.prefix, generation)
            self._ready = False

    async def position(self) -> int:
        await self._follow()
        return await super().position()

    async def accounts(self, account_ids: Sequence[int] = (), aggregate_ids: Sequence[str] = ()
                       ) -> dict[int, Versioned]:
        await self._follow()
        return await super().accounts(account_ids, aggregate_ids)

    async def write(self, changes: Sequence[Change], upto: int | None) -> WriteOutcome:
        await self._follow()
        return await super().write(changes, upto)

    async def reset(self) -> None:
        await self._follow()
        await super().reset()


def generation_index(base: ElasticsearchIndex, generation: int) -> ElasticsearchIndex:
    """An index adapter for ``generation`` on ``base``'s client and settings (a copy a
    rebuild fills: it makes its indices, and leaves the aliases alone)."""
    index = ElasticsearchIndex(base.client, SearchNames(base.names.prefix, generation))
    index.settings = base.settings
    index.rename_timeout_s = base.rename_timeout_s
    return index


async def switch_aliases(client: AsyncElasticsearch, names: SearchNames, old: int,
                         new: int) -> None:
    """Point both aliases from generation ``old`` to ``new`` in one ``_aliases`` call
    (Elasticsearch applies its actions atomically: a search sees one or the other)."""
    old_names, new_names = SearchNames(names.prefix, old), SearchNames(names.prefix, new)
    actions: list[dict[str, Any]] = []
    for alias, before, after in ((names.posts, old_names.posts_index, new_names.posts_index),
                                 (names.accounts, old_names.accounts_index,
                                  new_names.accounts_index)):
        actions += [{"remove": {"index": before, "alias": alias}},
                    {"add": {"index": after, "alias": alias}}]
    async with unavailable_as_dependency():
        await client.indices.update_aliases(actions=actions)


async def drop_generation(client: AsyncElasticsearch, names: SearchNames, generation: int
                          ) -> None:
    """Delete a generation's two indices and its position document."""
    gone = SearchNames(names.prefix, generation)
    async with unavailable_as_dependency():
        await client.indices.delete(index=[gone.posts_index, gone.accounts_index],
                                    ignore_unavailable=True)
        with contextlib.suppress(NotFoundError):
            await client.delete(index=gone.state_index, id=gone.state_id, refresh=True)


async def documents(client: AsyncElasticsearch, index: str) -> dict[str, Any]:
    """``{_id: (_version, _source)}`` of every document of ``index`` (scrolled)."""
    await client.indices.refresh(index=index)
    found: dict[str, Any] = {}
    async for hit in async_scan(client, index=index, query={"query": {"match_all": {}}},
                                version=True):
        found[hit["_id"]] = (hit.get("_version"), hit["_source"])
    return found


async def differences(client: AsyncElasticsearch, names: SearchNames, live: int, other: int,
                      limit: int) -> list[dict[str, Any]]:
    """Documents that differ between generations ``live`` and ``other`` (at most
    ``limit`` per index), in the shape of ``infra.copies.PgCopies.differences`` (the
    ``table`` is ``posts`` or ``accounts``, the key ``{"_id": ...}``)."""
    found: list[dict[str, Any]] = []
    a, b = SearchNames(names.prefix, live), SearchNames(names.prefix, other)
    for table, was_index, now_index in (("posts", a.posts_index, b.posts_index),
                                        ("accounts", a.accounts_index, b.accounts_index)):
        was, now = await documents(client, was_index), await documents(client, now_index)
        listed = 0
        for doc_id in sorted({*was, *now}):
            before, after = was.get(doc_id), now.get(doc_id)
            if before == after or listed >= limit:
                continue
            listed += 1
            entry: dict[str, Any] = {"table": table, "key": {"_id": doc_id}}
            if before is not None and after is not None:
                fields = {*before[1], *after[1]}
                entry["kind"] = "changed"
                entry["columns"] = {f: [before[1].get(f), after[1].get(f)] for f in sorted(fields)
                                    if before[1].get(f) != after[1].get(f)}
                if before[0] != after[0]:
                    entry["columns"]["_version"] = [before[0], after[0]]
            elif after is not None:
                entry["kind"], entry["columns"] = "missing", {"_source": [None, after[1]]}
            else:
                assert before is not None
                entry["kind"], entry["columns"] = "extra", {"_source": [before[1], None]}
            found.append(entry)
    return found
