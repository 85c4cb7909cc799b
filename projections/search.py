"""The search projection: which events change which search document.

| event | document change |
|---|---|
| ``AccountRegistered`` | the account (followers 0) |
| ``ProfileUpdated`` | the account's display name; every post of the account (``RenameAuthor``) |
| ``Followed`` / ``Refollowed`` / ``Unfollowed`` | the followee's ``followers_count`` +1 / +1 / -1 |
| ``PostCreated`` | the post, with its author's display name as the index knows it |
| ``PostDeleted`` | the post becomes a tombstone (leaves every result, cannot come back) |
| ``AccountSuspended`` / ``Unsuspended`` | the account and its posts flagged / not |
| ``AccountErased`` | the account document goes; each post of it becomes a tombstone |
| anything else | nothing (the position moves past it) |

A block ends follows with ``Unfollowed`` events, so counts follow it; who a
reader blocks or mutes is applied when searching, per reader.

A suspension **flags** the account and its posts rather than deleting them
(queries never match a flagged document): lifting it clears the flags, with no
need to read the posts again from anywhere, and the flags are guarded by versions
(the account's) and by ``author_position`` (the posts') like a rename, so a stale
or repeated event never clears or sets them out of order, and a rebuild from the
events ends with the same documents. A post created after its author's suspension
(a request that passed its checks just before) is indexed already flagged: it copies
the author's state, as it copies the display name.

A batch is **folded** in memory first (``SearchFold``, pure): the accounts it
touches are read from the index once, each event is applied to that state in
order, and each document is written once, at the version (position) of the
last event that changed it. An event at or below a document's stored version
was applied before (a redelivery, a batch applied again after a crash), and
is skipped; the index enforces the same rule on the write
(``version_type=external``), which also covers a second process.

Position and crashes: ``SearchIndexWriter.write`` writes the posts, then the
renames, then the accounts, and records the position last, once all of it is
searchable. A crash anywhere leaves the position behind the documents; the
events are applied again, and their writes meet equal versions and change
nothing (counts included: a follow already counted is at or below the
account's version). A rename is re-issued exactly when its account was not
written yet, which is why accounts come after renames: an account showing a
name means every post of it shows that name. So the index and its position
never disagree for long, and a restored or wiped index catches up from the
position it holds itself.

Parked events replayed later (``roost projections replay-parked``) are not
order-guarded for accounts: a follow or profile change older than the stored
account is skipped (the account's version is already past it). Posts are safe:
a replayed creation older than a deletion meets the tombstone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import structlog

from ports.events import EventEnvelope
from ports.projectors import SEARCH
from ports.search import (
    AccountDoc,
    Change,
    EraseAuthor,
    PostDoc,
    PostTombstone,
    PutAccount,
    PutPost,
    RenameAuthor,
    SearchIndexWriter,
    SuspendAuthor,
    Versioned,
)
from projections.base import StoreProjector, after

log = structlog.get_logger(__name__)

_FOLLOWED = frozenset({"Followed", "Refollowed"})
_SUSPENSIONS = frozenset({"AccountSuspended", "AccountUnsuspended"})
HANDLED = frozenset({"AccountRegistered", "ProfileUpdated", "PostCreated", "PostDeleted",
                     "Followed", "Refollowed", "Unfollowed", "AccountErased", *_SUSPENSIONS})
"""The event types that change a search document; the others only move the position."""


@dataclass
class SearchFold:
    """Applies events, in order, to the accounts the index holds; the changes to write.

    ``accounts`` maps account id to the stored account (with its version); the
    fold adds the accounts it registers and changes the others in place.
    """

    accounts: dict[int, Versioned]
    _by_aggregate: dict[str, int] = field(init=False)
    _touched: dict[int, None] = field(default_factory=dict, init=False)
    _posts: dict[int, PutPost | PostTombstone] = field(default_factory=dict, init=False)
    _updates: list[RenameAuthor | SuspendAuthor] = field(default_factory=list, init=False)
    _erasures: list[EraseAuthor] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._by_aggregate = {v.doc.aggregate_id: i for i, v in self.accounts.items()}

    def apply(self, event: EventEnvelope) -> None:
        """Fold one event in. Raises ``KeyError`` / ``ValueError`` / ``TypeError`` for a
        payload that does not have the event's shape (the runner parks it)."""
        p, at = event.payload, event.position
        match event.type:
            case "AccountRegistered":
                account_id = _id(p["account_id"])
                if account_id not in self.accounts:
                    self._put(Versioned(at, AccountDoc(
                        account_id=account_id, aggregate_id=event.aggregate_id,
                        username=_str(p["username"]), display_name=_str(p["display_name"]),
                        followers_count=0, profile_position=at,
                        created_at=event.occurred_at)))
            case "ProfileUpdated":
                self._profile_updated(event.aggregate_id, _str(p["display_name"]), at)
            case "Followed" | "Refollowed" | "Unfollowed":
                _id(p["follower_id"])  # the shape is checked, whatever the index holds
                self._followers(_id(p["followee_id"]), 1 if event.type in _FOLLOWED else -1,
                                at)
            case "PostCreated":
                self._post_created(event)
            case "PostDeleted":
                post_id = _id(p["post_id"])
                self._posts[post_id] = PostTombstone(at, post_id, _id(p["author_id"]))
            case "AccountSuspended" | "AccountUnsuspended":
                self._suspension(_id(p["account_id"]), event.type == "AccountSuspended", at)
            case "AccountErased":
                self._account_erased(_id(p["account_id"]), at)

    def changes(self) -> list[Change]:
        """One change per document, the author updates (renames, suspensions) and the
        erasures in order (``SearchIndexWriter.write`` writes posts, then author
        updates, then accounts, then erasures)."""
        accounts = [PutAccount(self.accounts[i].version, self.accounts[i].doc)
                    for i in self._touched if i in self.accounts]
        return [*self._posts.values(), *self._updates, *accounts, *self._erasures]

    # -- events ----------------------------------------------------------

    def _put(self, stored: Versioned) -> None:
        self.accounts[stored.doc.account_id] = stored
        self._by_aggregate[stored.doc.aggregate_id] = stored.doc.account_id
        self._touched[stored.doc.account_id] = None

    def _profile_updated(self, aggregate_id: str, display_name: str, at: int) -> None:
        account_id = self._by_aggregate.get(aggregate_id)
        stored = self.accounts.get(account_id) if account_id is not None else None
        if stored is None:
            log.warning("search.unknown_account", aggregate_id=aggregate_id, position=at)
            return
        if at <= stored.version:
            return  # applied before (the account is written after its renames)
        if display_name != stored.doc.display_name:
            self._updates.append(RenameAuthor(stored.doc.account_id, display_name, at))
        self._put(Versioned(at, replace(stored.doc, display_name=display_name,
                                        profile_position=at)))

    def _suspension(self, account_id: int, suspended: bool, at: int) -> None:
        """Flag (or clear) the account and every post of it. The posts' update is issued
        while the stored account does not show the new state yet (as a rename is), and
        also for an account the index does not hold (its posts may be there)."""
        stored = self.accounts.get(account_id)
        if stored is not None and at <= stored.version:
            return  # applied before (the account is written after its posts' update)
        if stored is None or stored.doc.suspended != suspended:
            self._updates.append(SuspendAuthor(account_id, suspended, at))
        if stored is None:
            log.warning("search.unknown_account", account_id=account_id, position=at)
        elif stored.doc.suspended != suspended:
            self._put(Versioned(at, replace(stored.doc, suspended=suspended,
                                            profile_position=at)))
        else:
            self._put(Versioned(at, stored.doc))

    def _account_erased(self, account_id: int, at: int) -> None:
        """The account leaves the index: its document, every post of it (tombstones: its
        posts of this batch here, the indexed ones by ``EraseAuthor``, written after this
        batch's posts), and its author updates in this batch."""
        self._erasures.append(EraseAuthor(account_id, at))
        self._updates = [u for u in self._updates if u.author_id != account_id]
        self._posts = {i: PostTombstone(at, i, account_id)
                       if isinstance(c, PutPost) and c.doc.author_id == account_id else c
                       for i, c in self._posts.items()}
        stored = self.accounts.pop(account_id, None)
        if stored is not None:
            self._by_aggregate.pop(stored.doc.aggregate_id, None)
        self._touched.pop(account_id, None)

    def _followers(self, account_id: int, delta: int, at: int) -> None:
        stored = self.accounts.get(account_id)
        if stored is None:
            log.warning("search.unknown_account", account_id=account_id, position=at)
            return
        if at <= stored.version:
            return  # counted before this batch
        count = max(0, stored.doc.followers_count + delta)
        self._put(Versioned(at, replace(stored.doc, followers_count=count)))

    def _post_created(self, event: EventEnvelope) -> None:
        p = event.payload
        author_id = _id(p["author_id"])
        author = self.accounts.get(author_id)
        self._posts[_id(p["post_id"])] = PutPost(event.position, PostDoc(
            post_id=_id(p["post_id"]), author_id=author_id,
            author_username=_str(p["author_username"]),
            author_display_name=author.doc.display_name if author else "",
            author_position=author.doc.profile_position if author else 0,
            text=_str(p["text"]), hashtags=_strings(p["hashtags"]),
            mentions=_strings(p["mentions"]), created_at=event.occurred_at,
            author_suspended=author.doc.suspended if author else False))


def _id(value: object) -> int:
    """An id from a payload: an int (not a bool, not a string of digits)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer id, got {value!r}"[:200])
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    return tuple(_str(v) for v in value)


def accounts_needed(events: Sequence[EventEnvelope]) -> tuple[set[int], set[str]]:
    """The account ids and aggregate ids whose stored accounts folding ``events`` reads."""
    ids: set[int] = set()
    aggregates: set[str] = set()
    for event in events:
        p = event.payload
        if event.type == "PostCreated" and isinstance(p.get("author_id"), int):
            ids.add(p["author_id"])
        elif event.type in ("Followed", "Refollowed", "Unfollowed") \
                and isinstance(p.get("followee_id"), int):
            ids.add(p["followee_id"])
        elif event.type in _SUSPENSIONS and isinstance(p.get("account_id"), int):
            ids.add(p["account_id"])
        elif event.type == "ProfileUpdated":
            aggregates.add(event.aggregate_id)
    return ids, aggregates


class SearchProjector(StoreProjector[SearchIndexWriter]):
    """The ``search`` projector: folds events into document changes and writes them
    through ``SearchIndexWriter``, which also keeps the position (see the module)."""

    name = SEARCH

    def __init__(self, index: SearchIndexWriter) -> None:
        self.store = index

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        """Fold the events above the position, write each changed document once, then
        the position of the last event."""
        async with self.store.pinned():  # one alias read per apply, not one per call
            fresh = after(await self.store.position(), events, expected_position)
            if fresh:
                await self.store.write(await self._changes(fresh), upto=fresh[-1].position)

    async def replay(self, event: EventEnvelope) -> None:
        """The event's changes regardless of the position; versions still refuse what
        is older than the stored documents."""
        await self.store.write(await self._changes([event]), upto=None)

    async def advance(self, position: int) -> None:
        await self.store.write([], upto=position)

    async def _changes(self, events: Sequence[EventEnvelope]) -> list[Change]:
        relevant = [e for e in events if e.type in HANDLED]
        if not relevant:
            return []
        ids, aggregates = accounts_needed(relevant)
        stored = await self.store.accounts(sorted(ids), sorted(aggregates)) \
            if ids or aggregates else {}
        fold = SearchFold(dict(stored))
        for event in relevant:
            fold.apply(event)
        return fold.changes()
