"""The contract of ``ports.search``: ``SearchIndexWriter`` and ``SearchIndexReader``
(one object implements both), for the Elasticsearch adapter and the in-memory fake."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import pytest

from ports.errors import DependencyUnavailable
from ports.search import (
    AccountDoc,
    AccountSearch,
    EraseAuthor,
    Hit,
    PostDoc,
    PostSearch,
    PostTombstone,
    PutAccount,
    PutPost,
    RenameAuthor,
    SearchIndexReader,
    SearchIndexWriter,
    SuspendAuthor,
)

DAY_MS = 86_400_000
ORIGIN_MS = 1_775_000_000_000  # 2026-03-31T23:33:20Z
BASE = "2026-03-{day:02d}T12:00:00.000Z"


class SearchIndex(SearchIndexWriter, SearchIndexReader, Protocol):
    """The adapter under test implements both sides."""


def post(post_id: int, text: str, *, author: int = 1, username: str = "alice",
         name: str = "Alice", day: int = 20, tags: tuple[str, ...] = (),
         author_position: int = 1) -> PostDoc:
    return PostDoc(post_id=post_id, author_id=author, author_username=username,
                   author_display_name=name, author_position=author_position, text=text,
                   hashtags=tags, mentions=(), created_at=BASE.format(day=day))


def account(account_id: int, username: str, name: str = "", followers: int = 0
            ) -> AccountDoc:
    return AccountDoc(account_id=account_id, aggregate_id=f"agg-{account_id}",
                      username=username, display_name=name, followers_count=followers,
                      profile_position=1, created_at=BASE.format(day=1))


async def ids(index: SearchIndexReader, **search: Any) -> list[int]:
    """Every matching post id, newest first (one page of 1,000)."""
    return [hit.id for hit in await index.search_posts(
        PostSearch(order="newest", size=1000, **search))]


async def page_all(index: SearchIndexReader, search: PostSearch) -> list[int]:
    found: list[int] = []
    after = search.after
    while True:
        page: list[Hit] = await index.search_posts(
            PostSearch(**{**_fields(search), "after": after}))
        if not page:
            return found
        found += [hit.id for hit in page]
        after = page[-1].sort_key


def _fields(search: PostSearch) -> dict[str, Any]:
    return {name: getattr(search, name) for name in search.__dataclass_fields__}


def _doc_fields(doc: AccountDoc | PostDoc) -> dict[str, Any]:
    return {name: getattr(doc, name) for name in doc.__dataclass_fields__}


class SearchIndexContract:
    """Fixtures: ``index`` (empty, reachable) and ``unreachable`` (its server down)."""

    async def test_the_position_starts_at_zero_and_only_moves_forward(
        self, index: SearchIndex,
    ) -> None:
        assert await index.position() == 0
        await index.write([], upto=5)
        assert await index.position() == 5
        await index.write([], upto=3)  # a slower writer: never back
        assert await index.position() == 5
        await index.write([PutPost(6, post(1, "x"))], upto=None)  # a replay records nothing
        assert await index.position() == 5

    async def test_words_match_any_case_and_accents_and_all_must_be_there(
        self, index: SearchIndex,
    ) -> None:
        await index.write([PutPost(1, post(1, "Un Café très chaud")),
                           PutPost(2, post(2, "cafe froid")),
                           PutPost(3, post(3, "du thé"))], upto=3)
        assert await ids(index, words=("CAFE",)) == [2, 1]
        assert await ids(index, words=("café", "chaud")) == [1]
        assert await ids(index, words=("cafe", "absent")) == []

    async def test_a_plural_finds_the_singular_through_the_stem(self, index: SearchIndex
                                                                  ) -> None:
        await index.write([PutPost(1, post(1, "two cats asleep")),
                           PutPost(2, post(2, "one cat"))], upto=2)
        assert sorted(await ids(index, words=("cats",))) == [1, 2]
        # the word as typed scores above its stem alone, at the same age
        hits = await index.search_posts(PostSearch(words=("cats",), origin_ms=ORIGIN_MS))
        assert [h.id for h in hits] == [1, 2]

    async def test_phrases_match_words_side_by_side_in_order(self, index: SearchIndex
                                                             ) -> None:
        await index.write([PutPost(1, post(1, "the quick brown fox")),
                           PutPost(2, post(2, "brown and quick"))], upto=2)
        assert await ids(index, phrases=("quick brown",)) == [1]
        assert await ids(index, phrases=("brown quick",)) == []
        assert await ids(index, phrases=("quick brown", "brown fox")) == [1]

    async def test_tags_authors_and_dates_filter(self, index: SearchIndex) -> None:
        await index.write([
            PutPost(1, post(1, "one", tags=("news",), day=1)),
            PutPost(2, post(2, "two", tags=("news", "sport"), day=10, author=2,
                            username="Bob", name="Bob")),
            PutPost(3, post(3, "three", tags=("sport",), day=20)),
        ], upto=3)
        assert await ids(index, tags=("news",)) == [2, 1]
        assert await ids(index, tags=("news", "sport")) == [2]
        assert await ids(index, authors=("BOB",)) == [2]
        assert await ids(index, authors=("bob", "alice")) == [3, 2, 1]
        assert await ids(index, on_or_after=date(2026, 3, 10)) == [3, 2]
        assert await ids(index, before=date(2026, 3, 10)) == [1]
        assert await ids(index, on_or_after=date(2026, 3, 2), before=date(2026, 3, 20)) == [2]
        assert await ids(index, tags=("sport",), authors=("alice",),
                         on_or_after=date(2026, 3, 15)) == [3]
        assert await ids(index, hidden_authors=frozenset({1})) == [2]

    async def test_an_older_or_repeated_version_changes_nothing(self, index: SearchIndex
                                                                ) -> None:
        first = await index.write([PutPost(10, post(1, "newest words"))], upto=10)
        assert (first.written, first.stale) == (1, 0)
        again = await index.write([PutPost(10, post(1, "repeated")),
                                   PutPost(4, post(1, "older"))], upto=10)
        assert (again.written, again.stale) == (0, 2)
        assert await ids(index, words=("newest",)) == [1]
        assert await ids(index, words=("older",)) == await ids(index, words=("repeated",)) == []

    async def test_a_tombstone_hides_the_post_and_no_older_write_revives_it(
        self, index: SearchIndex,
    ) -> None:
        await index.write([PutPost(5, post(1, "soon gone", tags=("t",)))], upto=5)
        await index.write([PostTombstone(7, 1, 1)], upto=7)
        assert await ids(index, words=("gone",)) == await ids(index, tags=("t",)) == []
        assert await ids(index) == []
        late = await index.write([PutPost(6, post(1, "soon gone"))], upto=None)
        assert late.stale == 1 and await ids(index) == []
        # deleted before its creation ever arrived (out of order): never shown
        await index.write([PostTombstone(9, 2, 1)], upto=9)
        await index.write([PutPost(8, post(2, "never shown"))], upto=None)
        assert await ids(index, words=("shown",)) == []

    async def test_an_erased_author_leaves_posts_and_accounts_for_good(
        self, index: SearchIndex,
    ) -> None:
        """``EraseAuthor``: its account document goes, every post of it (more than one
        page of them) becomes a tombstone at the erasure's position, others stay; an
        older write of its post or account changes nothing."""
        pages = 1003  # more than one page of the adapter's (1,000)
        await index.write([PutAccount(1, account(1, "alice", "Alice")),
                           PutAccount(2, account(2, "bob", "Bob"))], upto=2)
        await index.write([PutPost(3 + i, post(10 + i, f"hello {i}")) for i in range(pages)]
                          + [PutPost(3, post(9, "hello from bob", author=2, username="bob"))],
                          upto=3 + pages)
        done = await index.write([EraseAuthor(1, 5000)], upto=5000)
        assert done.written == pages
        assert await ids(index, words=("hello",)) == [9]
        assert (await index.accounts([1, 2])).keys() == {2}
        assert [h.id for h in await index.search_accounts(AccountSearch("ali"))] == []
        late = await index.write([PutPost(4000, post(10, "hello again"))], upto=None)
        assert late.stale == 1 and await ids(index, words=("again",)) == []
        again = await index.write([EraseAuthor(1, 5000)], upto=None)  # idempotent
        assert await ids(index, words=("hello",)) == [9] and again.written == 0

    async def test_a_rename_reaches_older_posts_once_and_never_goes_back(
        self, index: SearchIndex,
    ) -> None:
        await index.write([PutPost(2, post(1, "hello", name="Old Name")),
                           PutPost(3, post(2, "world", name="Old Name")),
                           PutPost(4, post(3, "other", author=9, name="Old Name")),
                           PutPost(12, post(4, "later", name="Newest", author_position=12))],
                          upto=12)
        renamed = await index.write([RenameAuthor(1, "Shiny Name", 10)], upto=None)
        assert renamed.renamed == 2
        assert sorted(await ids(index, words=("shiny",))) == [1, 2]
        assert await ids(index, words=("old", "name")) == [3]
        # the same rename again, or an older one: nothing moves
        again = await index.write([RenameAuthor(1, "Shiny Name", 10),
                                   RenameAuthor(1, "Stale Name", 8)], upto=None)
        assert again.renamed == 0 and await ids(index, words=("stale",)) == []
        assert await ids(index, words=("newest",)) == [4]  # named after the rename
        # a renamed post can still be deleted at the delete's position
        await index.write([PostTombstone(13, 1, 1)], upto=13)
        assert await ids(index, words=("shiny",)) == [2]

    async def test_a_suspended_author_leaves_every_query_until_lifted(
        self, index: SearchIndex,
    ) -> None:
        """``SuspendAuthor`` flags the author's posts and its account document
        (``suspended``): no post query form and no account search finds them; others
        stay. Lifting it brings every one back, as they were."""
        many = 30
        alice = account(1, "alice", "Alice Liddell", followers=9)
        await index.write([PutAccount(1, alice), PutAccount(2, account(2, "alina", "Al"))],
                          upto=2)
        await index.write([PutPost(3 + i, post(10 + i, f"hello #t {i}", tags=("t",), day=5))
                           for i in range(many)]
                          + [PutPost(3, post(9, "hello #t", tags=("t",), author=2,
                                              username="alina", day=5))], upto=3 + many)
        forms: list[dict[str, Any]] = [
            {"words": ("hello",)}, {"phrases": ("hello t",)}, {"tags": ("t",)},
            {"authors": ("alice",)}, {"words": ("liddell",)},
            {"on_or_after": date(2026, 3, 1), "before": date(2026, 3, 10)}, {}]
        before = [await ids(index, **form) for form in forms]
        assert len(before[0]) == many + 1

        done = await index.write([SuspendAuthor(1, True, 5000),
                                  PutAccount(5000, AccountDoc(**{
                                      **_doc_fields(alice), "suspended": True,
                                      "profile_position": 5000}))], upto=5000)

        assert done.renamed == many
        for form, was in zip(forms, before, strict=True):
            assert await ids(index, **form) == [i for i in was if i == 9], form
        for text in ("ali", "alice", "liddell"):
            assert 1 not in [h.id for h in await index.search_accounts(AccountSearch(text))]
        assert (await index.accounts([1]))[1].doc.suspended is True
        # a post of hers written later, flagged as her account says: not found either
        await index.write([PutPost(5001, PostDoc(**{**_doc_fields(post(
            5001, "hello late")), "author_suspended": True, "author_position": 5000}))],
            upto=5001)
        assert await ids(index, words=("late",)) == []
        # an older suspension or lifting, replayed: nothing moves
        stale = await index.write([SuspendAuthor(1, False, 4000)], upto=None)
        assert stale.renamed == 0 and await ids(index, authors=("alice",)) == []

        lifted = await index.write([SuspendAuthor(1, False, 6000),
                                    PutAccount(6000, AccountDoc(**{
                                        **_doc_fields(alice), "profile_position": 6000}))],
                                   upto=6000)
        assert lifted.renamed == many + 1
        for form, was in zip(forms, before, strict=True):
            assert [i for i in await ids(index, **form) if i != 5001] == was, form
        assert await ids(index, words=("late",)) == [5001]
        assert [h.id for h in await index.search_accounts(AccountSearch("ali"))] == [1, 2]
        # a flagged-then-cleared post can still be deleted at the delete's position
        await index.write([PostTombstone(6001, 10, 1)], upto=6001)
        assert 10 not in await ids(index, authors=("alice",))

    async def test_renames_and_suspensions_apply_in_order(self, index: SearchIndex) -> None:
        """Both guard on ``author_position``: given in position order, each reaches the
        posts older than it; the posts end with the latest of both."""
        await index.write([PutPost(2, post(1, "hello", name="Old"))], upto=2)
        await index.write([RenameAuthor(1, "Mid", 10), SuspendAuthor(1, True, 20),
                           RenameAuthor(1, "Last", 30)], upto=30)
        assert await ids(index, words=("hello",)) == []
        await index.write([SuspendAuthor(1, False, 40)], upto=40)
        assert await ids(index, words=("last",)) == [1]
        assert await ids(index, words=("mid",)) == []

    async def test_relevance_paging_has_no_repeat_and_no_gap(self, index: SearchIndex
                                                             ) -> None:
        texts = ["red apple", "apple red", "green apple pie", "apples", "apple"]
        await index.write([PutPost(i, post(i, texts[i % 5], day=1 + i % 28))
                           for i in range(1, 61)], upto=60)
        search = PostSearch(words=("red", "apple"), origin_ms=ORIGIN_MS, size=7)
        everything = [h.id for h in await index.search_posts(
            PostSearch(**{**_fields(search), "size": 1000}))]
        assert sorted(everything) == [i for i in range(1, 61) if i % 5 in (0, 1)]
        assert await page_all(index, search) == everything
        # posts written between two pages take their own places (a score depends on
        # the post and the origin only): the pages go on exactly where they were
        first = await index.search_posts(search)
        await index.write([PutPost(61, post(61, "red apple", day=31)),
                           PutPost(62, post(62, "apple red", day=1))], upto=62)
        rest = await page_all(index, PostSearch(**{**_fields(search),
                                                   "after": first[-1].sort_key}))
        assert [h.id for h in first] + [i for i in rest if i != 62] == everything
        assert 61 not in rest and 62 in rest  # each on its side of the cursor

    async def test_relevance_blends_with_recency(self, index: SearchIndex) -> None:
        await index.write([PutPost(1, post(1, "red apple", day=30)),
                           PutPost(2, post(2, "apple red", day=30)),
                           PutPost(3, post(3, "red apple", day=2))], upto=3)
        hits = await index.search_posts(PostSearch(words=("red", "apple"),
                                                   origin_ms=ORIGIN_MS))
        # phrase and recency win; an old exact phrase falls behind a fresh near miss
        assert [h.id for h in hits] == [1, 2, 3]

    async def test_newest_order_pages_by_id(self, index: SearchIndex) -> None:
        await index.write([PutPost(i, post(i, "x", tags=("t",))) for i in range(1, 24)],
                          upto=23)
        found: list[int] = []
        after: tuple[float | int, ...] | None = None
        while page := await index.search_posts(PostSearch(tags=("t",), order="newest",
                                                          size=5, after=after)):
            found += [h.id for h in page]
            after = page[-1].sort_key
        assert found == list(range(23, 0, -1))

    async def test_accounts_by_prefix_exact_first_then_followers(self, index: SearchIndex
                                                                 ) -> None:
        await index.write([
            PutAccount(1, account(1, "alice", "Alice Liddell", followers=3)),
            PutAccount(2, account(2, "alicia", "Someone", followers=50)),
            PutAccount(3, account(3, "bob", "Alina Bobson", followers=10)),
            PutAccount(4, account(4, "ali", "Ali", followers=0)),
            PutAccount(5, account(5, "carol", "Carol", followers=99)),
        ], upto=5)

        async def found(text: str, **extra: Any) -> list[int]:
            return [h.id for h in await index.search_accounts(AccountSearch(text, **extra))]

        assert await found("ali") == [4, 2, 3, 1]  # exact, then by followers
        assert await found("@ALIC") == [2, 1]
        assert await found("lidd") == [1]  # a display-name word
        assert await found("alice lid") == [1]
        assert await found("zed") == []
        assert await found("ali", hidden_accounts=frozenset({2})) == [4, 3, 1]
        first = await found("ali", size=2)
        rest = [h.id for h in await index.search_accounts(AccountSearch(
            "ali", after=(await index.search_accounts(AccountSearch("ali", size=2)))[-1]
            .sort_key))]
        assert first + rest == [4, 2, 3, 1]

    async def test_accounts_are_read_back_with_their_versions(self, index: SearchIndex
                                                              ) -> None:
        await index.write([PutAccount(7, account(1, "alice")),
                           PutAccount(9, account(2, "bob"))], upto=9)
        stale = await index.write([PutAccount(8, account(2, "bob", followers=5))], upto=None)
        assert stale.stale == 1
        stored = await index.accounts([1, 3], ["agg-2"])
        assert {i: (v.version, v.doc.username, v.doc.followers_count)
                for i, v in stored.items()} == {1: (7, "alice", 0), 2: (9, "bob", 0)}
        assert await index.accounts() == {}

    async def test_reset_forgets_everything(self, index: SearchIndex) -> None:
        await index.write([PutPost(3, post(1, "gone")), PutAccount(3, account(1, "a"))],
                          upto=3)
        await index.reset()
        assert await index.position() == 0
        assert await ids(index) == [] and await index.accounts([1]) == {}
        assert (await index.write([PutPost(1, post(1, "back"))], upto=1)).written == 1

    async def test_an_unreachable_index_is_a_dependency_failure(
        self, unreachable: SearchIndex,
    ) -> None:
        with pytest.raises(DependencyUnavailable):
            await unreachable.position()
        with pytest.raises(DependencyUnavailable):
            await unreachable.search_posts(PostSearch(words=("x",)))
        with pytest.raises(DependencyUnavailable):
            await unreachable.write([], upto=1)
