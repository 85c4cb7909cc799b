"""The search index on Elasticsearch (noida-db): the port's contract
(``tests/contracts/search.py``), and what only the real server shows: the
mapping refuses unknown fields, the analyzers, and index set-up."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra import devstack
from infra.search_copies import (
    FollowingSearchIndex,
    documents,
    generation_index,
    switch_aliases,
)
from infra.search_index import ElasticsearchIndex, build_client
from infra.search_schema import ACCOUNTS_MAPPING, ADDED_FIELDS, POSTS_MAPPING, SearchNames
from ports.search import PostSearch, PutPost, SearchWriteError, SuspendAuthor
from tests.contracts.search import SearchIndexContract, ids, post


async def open_index(url: str, names: SearchNames | None = None) -> ElasticsearchIndex:
    index = ElasticsearchIndex(build_client(url, 5.0),
                               names or SearchNames(f"t{uuid.uuid4().hex[:10]}-"))
    return index


async def drop(index: ElasticsearchIndex) -> None:
    await index.drop()
    await index.close()


@pytest.fixture
async def es_index(noida: dict[str, str]) -> AsyncIterator[ElasticsearchIndex]:
    index = await open_index(noida["elasticsearch_url"])
    await index.ensure()
    try:
        yield index
    finally:
        await drop(index)


class TestElasticsearchIndex(SearchIndexContract):
    @pytest.fixture
    def index(self, es_index: ElasticsearchIndex) -> ElasticsearchIndex:
        return es_index

    @pytest.fixture
    async def unreachable(self) -> AsyncIterator[ElasticsearchIndex]:
        index = await open_index(f"http://127.0.0.1:{devstack.free_port()}")
        yield index
        await index.close()


async def test_the_indices_sit_behind_aliases_with_strict_mappings(
    es_index: ElasticsearchIndex, noida: dict[str, str],
) -> None:
    client, names = es_index.client, es_index.names
    aliases = await client.indices.get_alias(name=[names.posts, names.accounts])
    assert {index: list(body["aliases"]) for index, body in aliases.body.items()} == {
        names.posts_index: [names.posts], names.accounts_index: [names.accounts]}
    for index, declared in ((names.posts_index, POSTS_MAPPING),
                            (names.accounts_index, ACCOUNTS_MAPPING)):
        stored = (await client.indices.get_mapping(index=index))[index]["mappings"]
        assert stored["dynamic"] == "strict"
        # every field as declared: its type, analyzers, normalizer and sub-fields
        assert set(stored["properties"]) == set(declared["properties"])
        for name, field in declared["properties"].items():
            assert {k: v for k, v in stored["properties"][name].items() if k in field} == field
        settings = await client.indices.get_settings(index=index)
        analysis = settings[index]["settings"]["index"]["analysis"]
        assert set(analysis["analyzer"]) == {"roost_folded", "roost_stemmed", "roost_prefix"}
        assert set(analysis["normalizer"]) == {"roost_keyword"}
    with pytest.raises(SearchWriteError, match="strict"):
        await es_index._bulk(names.posts_index, [("1", 1, {"post_id": 1, "bogus": True})])
    with pytest.raises(SearchWriteError, match="strict"):
        await es_index._bulk(names.accounts_index, [("1", 1, {"account_id": 1, "x": 1})])
    # a second process finding them in place changes nothing
    again = await open_index(noida["elasticsearch_url"], names)
    await again.ensure()
    await again.close()


async def test_the_analyzers_fold_and_stem(es_index: ElasticsearchIndex) -> None:
    async def tokens(analyzer: str, text: str) -> list[str]:
        answer = await es_index.client.indices.analyze(
            index=es_index.names.posts_index, analyzer=analyzer, text=text)
        return [t["token"] for t in answer["tokens"]]

    full_width, arabic_digits = "\uff26\uff55\uff4c\uff4c", "\u0661\u0662\u0663"
    folded = await tokens("roost_folded", f"Crème BRÛLÉE {full_width} {arabic_digits}")
    assert folded == ["creme", "brulee", "full", "123"]
    assert await tokens("roost_stemmed", "Running ponies") == ["run", "pony"]
    assert (await tokens("roost_prefix", "Ålice"))[:3] == ["a", "al", "ali"]


async def test_a_wiped_index_is_created_again_and_caught_up_from_zero(
    es_index: ElasticsearchIndex,
) -> None:
    await es_index.write([PutPost(3, post(1, "before the wipe"))], upto=3)
    await es_index.client.indices.delete(index=[es_index.names.posts_index,
                                                es_index.names.accounts_index,
                                                es_index.names.state_index])
    assert await es_index.position() == 0  # the position went with the documents
    assert await es_index.search_posts(PostSearch(words=("wipe",))) == []
    await es_index.write([PutPost(3, post(1, "after the wipe"))], upto=3)
    assert await ids(es_index, words=("after",)) == [1]
    mapping = await es_index.client.indices.get_mapping(index=es_index.names.posts_index)
    assert mapping[es_index.names.posts_index]["mappings"]["dynamic"] == "strict"


async def test_indices_made_before_suspensions_get_the_flags_in_place(
    noida: dict[str, str],
) -> None:
    """Indices made with the mappings of before (no ``suspended`` / ``author_suspended``)
    and holding documents: ``ensure`` adds the fields to the mappings in place (no new
    generation), the old documents are found as before, and a suspension then flags and
    clears them. A flag is in a document only while true, so a document keeps the shape
    it had before suspensions existed once its suspension is lifted."""
    names = SearchNames(f"t{uuid.uuid4().hex[:10]}-")
    old = {name: {**mapping, "properties": {k: v for k, v in mapping["properties"].items()
                                            if k not in ADDED_FIELDS[kind]}}
           for name, mapping, kind in ((names.posts_index, POSTS_MAPPING, "posts"),
                                       (names.accounts_index, ACCOUNTS_MAPPING, "accounts"))}
    index = await open_index(noida["elasticsearch_url"], names)
    try:
        for name, mapping in old.items():
            await index.client.indices.create(index=name, mappings=mapping,
                                              settings=index.settings)
        source = {"post_id": 1, "author_id": 7, "author_username": "alice",
                  "author_display_name": "Alice", "author_position": 1, "text": "old post",
                  "hashtags": [], "mentions": [], "created_at": "2026-03-20T12:00:00.000Z",
                  "created_ms": 1774008000000, "deleted": False}
        await index.client.index(index=names.posts_index, id="1", document=source,
                                 version=2, version_type="external", refresh=True)
        await index.ensure()
        for name in old:
            stored = (await index.client.indices.get_mapping(index=name))[name]["mappings"]
            assert stored["dynamic"] == "strict"
            assert set(ADDED_FIELDS["posts" if name == names.posts_index else "accounts"]) \
                <= set(stored["properties"])
        await index.client.indices.put_alias(index=names.posts_index, name=names.posts)
        assert await ids(index, words=("old",)) == [1]
        await index.write([SuspendAuthor(7, True, 10)], upto=10)
        assert await ids(index, words=("old",)) == []
        await index.write([SuspendAuthor(7, False, 11)], upto=11)
        assert await ids(index, words=("old",)) == [1]
        found = await index.client.get(index=names.posts_index, id="1")
        assert found["_source"] == {**source, "author_position": 11}
        assert found["_version"] == 4  # two updates by query
    finally:
        await drop(index)


async def test_a_following_index_reads_the_alias_once_per_pin_and_follows_a_switch(
    noida: dict[str, str],
) -> None:
    """Inside ``pinned`` (an apply under the lease, which a switch also takes) the alias
    is read once; the next call outside a pin, or the next pin, sees a switch."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    client = build_client(noida["elasticsearch_url"], 5.0)
    first = SearchNames(prefix, 1)
    live = FollowingSearchIndex(client, first)
    await live.ensure()
    await client.indices.update_aliases(actions=[
        {"add": {"index": live.names.posts_index, "alias": live.names.posts}},
        {"add": {"index": live.names.accounts_index, "alias": live.names.accounts}}])
    second = generation_index(live, 2)
    await second.ensure()
    reads = 0
    get_alias = client.indices.get_alias

    async def counted(**kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await get_alias(**kwargs)

    client.indices.get_alias = counted  # type: ignore[method-assign]
    try:
        async with live.pinned():
            assert await live.position() == 0
            assert await live.accounts([1]) == {}
            await live.write([PutPost(1, post(1, "pinned write"))], upto=1)
        assert reads == 1  # three calls, one alias read
        assert set(await documents(client, first.posts_index)) == {"1"}

        await switch_aliases(client, live.names, 1, 2)  # a rebuild's switch, between applies
        async with live.pinned():
            await live.write([PutPost(2, post(2, "after the switch"))], upto=2)
        assert reads == 2
        assert live.names.generation == 2
        assert set(await documents(client, second.names.posts_index)) == {"2"}  # the new one
        await live.write([PutPost(3, post(3, "unpinned"))], upto=3)  # a park's advance
        assert reads == 3  # outside a pin: read before the call
        assert set(await documents(client, second.names.posts_index)) == {"2", "3"}
        assert set(await documents(client, first.posts_index)) == {"1"}
    finally:
        client.indices.get_alias = get_alias  # type: ignore[method-assign]
        await second.drop()
        await generation_index(live, 1).drop()
        await client.close()
