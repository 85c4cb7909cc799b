"""A home timeline as it was at a past position or moment, rebuilt from the events.

The timeline projector itself (``projections.timelines.TimelineProjector``: fan-out,
celebrities, reposts, deletes, follows' backfill, unfollows and their repairs) is run
over the stored events up to that point into an in-memory store
(``infra.memory_timelines``) in which only the chosen account's timeline is kept, as
if it had been read before the first event. The page is then read as
``queries.timelines`` reads one: the kept timeline merged with the followed
celebrities' posts, each post once (its oldest item), without the posts and reposts
of accounts in a block with the reader either way or that the reader muted
(``queries.visibility.hides``), the blocks and mutes being those in force at that
point. Memory holds what the projector keeps for every account (follow sets and up to
``max_entries`` recent items per author), not the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter

from domain.ids import post_uuid
from infra.event_export import batches
from infra.memory_timelines import MemoryTimelineStore
from ports.event_reader import EventFilter, EventReader
from ports.read_model_reader import HiddenAccounts
from ports.timelines import TimelineItem
from projections.timelines import TimelineProjector
from queries.visibility import hides

KEPT_S = 10 * 365 * 24 * 3600
"""The rebuilt timeline is kept for as long as the rebuild could take, and more."""
_EDGES = {"Blocked": ("block", True), "Reblocked": ("block", True),
          "Unblocked": ("block", False), "Muted": ("mute", True),
          "Remuted": ("mute", True), "Unmuted": ("mute", False)}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One item of the page: ``id`` (the post, or the repost item), ``repost_of`` (the
    original post's id for a repost), ``by`` (the author, or the reposter), ``author_id``
    and ``text`` of the post shown."""

    id: int
    repost_of: int | None
    by: int
    author_id: int
    text: str


@dataclass
class TimelineAt:
    """The rebuilt page and where it stands: ``position``, the last event applied."""

    account_id: int
    position: int
    events: int
    entries: list[TimelineEntry] = field(default_factory=list)


@dataclass
class _Moderation:
    """The reader's blocks (either way) and mutes, folded from the events."""

    reader: int
    blocks: dict[int, bool] = field(default_factory=dict)
    mutes: dict[int, bool] = field(default_factory=dict)

    def see(self, kind: str, payload: dict[str, object], active: bool) -> None:
        if kind == "block":
            one, other = payload.get("blocker_id"), payload.get("blocked_id")
            if self.reader in (one, other):
                self.blocks[int(str(other if one == self.reader else one))] = active
        elif payload.get("muter_id") == self.reader:
            self.mutes[int(str(payload["muted_id"]))] = active

    def hidden(self) -> HiddenAccounts:
        return HiddenAccounts(frozenset(a for a, on in self.blocks.items() if on),
                              frozenset(a for a, on in self.mutes.items() if on))


async def timeline_at(reader: EventReader, account_id: int, where: EventFilter, *,
                      limit: int = 20, max_entries: int = 800, backfill: int = 100,
                      celebrity_threshold: int = 10_000) -> TimelineAt:
    """The first ``limit`` items of ``account_id``'s home timeline after applying the events
    ``where`` selects (its ``upto`` and ``until`` say when; other conditions should be
    left empty). ``max_entries``, ``backfill`` and ``celebrity_threshold`` are the
    settings the live projector runs with."""
    store = MemoryTimelineStore(max_entries=max_entries)
    projector = TimelineProjector(store, backfill=backfill,
                                  celebrity_threshold=celebrity_threshold)
    await store.mark_kept(account_id, KEPT_S)
    moderation = _Moderation(account_id)
    applied = 0
    async for events in batches(reader, where):
        await projector.apply_batch([e.envelope for e in events])
        for event in events:
            edge = _EDGES.get(event.envelope.type)
            if edge is not None:
                moderation.see(edge[0], event.envelope.payload, edge[1])
        applied += len(events)
    position = await store.position()
    found = TimelineAt(account_id, position, applied)
    hidden = moderation.hidden()
    celebrities = await store.celebrities()
    follows = await store.following_among(account_id, celebrities)
    followed = [c for c, f in zip(celebrities, follows, strict=True) if f]
    wanted = max_entries + len(followed) * max_entries
    slices = await store.slices(account_id, followed, None, wanted)
    merged = sorted({item for items in slices for item in items}, key=itemgetter(0),
                    reverse=True)
    oldest: dict[int, int] = {}
    for item, original in merged:
        post = original or item
        oldest[post] = min(oldest.get(post, item), item)
    candidates = [(i, o) for i, o in merged if oldest[o or i] == i]
    posts = await _posts(reader, sorted({o or i for i, o in candidates}), position)
    reposters = await _reposters(store, [o for _, o in candidates if o is not None])
    for item, original in candidates:
        body = posts.get(original or item)
        if body is None:
            continue
        author, text = body
        by = author if original is None else reposters.get((original, item))
        if by is None or hides(hidden, author, with_mutes=True) or hides(
                hidden, by, with_mutes=True):
            continue
        found.entries.append(TimelineEntry(item, original, by, author, text))
        if len(found.entries) == limit:
            break
    return found


async def _posts(reader: EventReader, post_ids: list[int], upto: int
                 ) -> dict[int, tuple[int, str]]:
    """``post id -> (author id, text)`` from the posts' ``PostCreated`` events at or
    below ``upto`` (a post deleted by then has no item left to ask for)."""
    found: dict[int, tuple[int, str]] = {}
    for start in range(0, len(post_ids), 500):
        ids = frozenset(str(post_uuid(p)) for p in post_ids[start:start + 500])
        where = EventFilter(types=frozenset({"PostCreated"}), aggregate_ids=ids, upto=upto)
        async for events in batches(reader, where):
            for event in events:
                p = event.envelope.payload
                found[int(p["post_id"])] = (int(p["author_id"]), str(p["text"]))
    return found


async def _reposters(store: MemoryTimelineStore, originals: list[int]
                     ) -> dict[tuple[int, int], int]:
    """``(original, repost item) -> reposter`` for the reposts still standing."""
    found: dict[tuple[int, int], int] = {}
    for original, reposts in zip(originals, await store.reposts_of(originals), strict=True):
        for reposter, repost_id in reposts.by_reposter.items():
            found[(original, repost_id)] = reposter
    return found


def items_of(page: TimelineAt) -> list[TimelineItem]:
    """The page as ``(item id, original or None)`` pairs, newest first."""
    return [(e.id, e.repost_of) for e in page.entries]
