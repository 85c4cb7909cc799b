"""Home timelines: the policy of hybrid fan-out on write.

The projector keeps, from the same ordered event stream, everything fan-out
needs, in its store (``ports.timelines.TimelineFanout``; Redis in
production): follower and following sets, each account's recent posts and
reposts (``authored``), which accounts are celebrities, and who reposted
what. So fan-out never races another projection. Every write is a set
operation of fixed items, so applying an event twice changes nothing. How
any of it is stored is the store's business; this module decides who gets
what.

Fan-out rules:

* a post or repost goes to its author's own timeline and, unless the author
  has more than ``celebrity_threshold`` followers, to every follower's;
  celebrities' posts are merged in at read time instead;
* only kept timelines (readers active within the active window) receive
  pushes; an absent timeline is rebuilt from the read models on the next read;
* following backfills the followee's recent items, unfollowing removes them;
* an author falling back below the threshold has the posts made while a
  celebrity pushed to every follower, so no timeline is left with a hole;
* deleting a post removes it and every repost of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter

from ports.events import EventEnvelope
from ports.live import LiveEventPublisher
from ports.projectors import TIMELINES
from ports.timelines import TimelineFanout, TimelineItem, edge_field
from projections.base import StoreProjector, after, runs
from projections.home_stream import HomeStream


class TimelineProjector(StoreProjector[TimelineFanout]):
    """The fan-out policy over a ``ports.timelines.TimelineFanout`` store (the
    timelines, the follow graph, celebrities and the position all live there)."""

    name = TIMELINES

    def __init__(self, store: TimelineFanout, backfill: int = 100,
                 celebrity_threshold: int = 10_000,
                 live: LiveEventPublisher | None = None) -> None:
        self.store = store
        self.backfill = backfill
        self.celebrity_threshold = celebrity_threshold
        self.live = HomeStream(live)  # home-stream events of live applies (worker only)

    @property
    def max_entries(self) -> int:
        return self.store.max_entries

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        """Apply in order, then record the last position (writes are idempotent, so
        a crash part-way is repaired by applying the batch again)."""
        position = await self.position()
        fresh = after(position, events, expected_position)
        self.live.start()
        for run in runs(fresh, _both_follows):
            if len(run) > 1:  # follows, the bulk of any log: a few round trips per run
                await self._followed_many([(e.payload["follower_id"], e.payload["followee_id"])
                                           for e in run])
                for event in run:
                    await self._note_undo_or_redo(event)
            else:
                self.live.at(run[0].position)
                await self._apply(run[0])
        await self.live.flush()  # after the writes, before the position
        if fresh:
            await self.advance(fresh[-1].position)

    async def replay(self, event: EventEnvelope) -> None:
        """The event's writes alone (idempotent), without touching the position: a
        parked event, applied out of order. A post or repost whose post was deleted (or
        whose author was erased) since is not published again (the tombstones of
        ``bury``): in log order the deletion came later and took it away. Nor is a
        follow, an unfollow, a repost or an unrepost whose edge a later undo or redo
        changed (``note_edge``): that later event made the edge what it is."""
        edge = _edge_of(event)
        if edge is not None and await self.store.edge_noted(*edge) >= event.position:
            return
        p = event.payload
        match event.type:
            case "PostCreated" if await self.store.buried(p["author_id"], p["post_id"]):
                return
            case "Reposted" | "Rereposted" if (
                    await self.store.buried(p["post_author_id"], p["post_id"])
                    or await self.store.buried(p["account_id"], p["post_id"])):
                return  # the post deleted, or its author or the reposter erased
        await self._apply(event)

    async def _apply(self, event: EventEnvelope) -> None:
        """The event's writes, in log order."""
        await self._writes(event)
        await self._note_undo_or_redo(event)

    async def _note_undo_or_redo(self, event: EventEnvelope) -> None:
        """After an undo or redo of an edge, its position, for ``replay``'s check (only
        these: a first follow or repost is the edge's oldest event, so no parked event
        of the edge can be older than one of them that is not also noted)."""
        edge = _edge_of(event)
        if edge is not None and event.type in _UNDO_OR_REDO:
            await self.store.note_edge(*edge, event.position)

    async def _writes(self, event: EventEnvelope) -> None:
        p = event.payload
        match event.type:
            case "PostCreated":
                await self._publish(p["author_id"], (p["post_id"], None))
            case "PostDeleted":
                await self._post_deleted(p["author_id"], p["post_id"])
            case "Reposted" | "Rereposted":
                await self._reposted(p["account_id"], p["post_id"], p["repost_id"],
                                     p["post_author_id"])
            case "Unreposted":
                await self._unreposted(p["account_id"], p["post_id"], p["repost_id"])
            case "Followed" | "Refollowed":
                await self._followed(p["follower_id"], p["followee_id"])
            case "Unfollowed":
                await self._unfollowed(p["follower_id"], p["followee_id"])
            case "AccountErased":
                await self._account_erased(p["account_id"])

    async def advance(self, position: int) -> None:
        await self.store.advance(position)  # only ever forward

    # -- helpers ---------------------------------------------------------

    async def _audience(self, author_id: int, *, pushed_only: bool) -> list[int]:
        """Whose timelines an author's item goes to (``pushed_only``) or may be in."""
        if pushed_only and await self.store.is_celebrity(author_id):
            return [author_id]
        return [author_id, *await self.store.followers(author_id)]

    # -- events ----------------------------------------------------------

    async def _publish(self, author_id: int, item: TimelineItem) -> None:
        await self.store.add_authored(author_id, item)
        readers = await self._audience(author_id, pushed_only=True)
        await self.store.push(readers, [item])
        self.live.updated(author_id, readers, item)

    async def _withdraw(self, author_id: int, item: TimelineItem) -> None:
        await self.store.remove_authored(author_id, item)
        readers = await self._audience(author_id, pushed_only=False)
        await self.store.remove(readers, [item])
        self.live.withdrawn(readers, item)

    async def _post_deleted(self, author_id: int, post_id: int) -> None:
        await self.store.bury(author_id, post_id)
        await self._withdraw(author_id, (post_id, None))
        [reposts] = await self.store.reposts_of([post_id])
        for reposter, repost_id in reposts.by_reposter.items():
            await self._withdraw(reposter, (repost_id, post_id))
        await self.store.forget_reposts(post_id)

    async def _account_erased(self, account_id: int) -> None:
        """Every item the account authored leaves every timeline by the delete-post
        path (its posts, and others' reposts of them) or the unrepost path (its
        reposts). Its authored items are what can be in a timeline: an item older
        than the newest ``max_entries`` of its author is in none (the post ids that
        might remain beyond are ids only, and the read models show them deleted)."""
        await self.store.bury(account_id, None)
        items = await self.store.recent_authored(account_id, self.max_entries)
        for item_id, original in items:
            if original is None:
                await self._post_deleted(account_id, item_id)
            else:
                await self._unreposted(account_id, original, item_id)

    async def _reposted(self, account_id: int, post_id: int, repost_id: int, author_id: int
                        ) -> None:
        await self.store.record_repost(post_id, author_id, account_id, repost_id)
        await self._publish(account_id, (repost_id, post_id))

    async def _unreposted(self, account_id: int, post_id: int, repost_id: int) -> None:
        await self.store.forget_repost(post_id, account_id)
        await self._withdraw(account_id, (repost_id, post_id))
        await self._repair(await self._audience(account_id, pushed_only=False), [post_id])

    async def _repair(self, readers: list[int], post_ids: list[int]) -> None:
        """After items were taken away, show each post again through whatever way
        the reader still reaches it: its author, or another followed reposter.

        Every such item is pushed; the push keeps the oldest one per post, so
        the timeline ends as a rebuild from the read models would make it.
        """
        if not readers or not post_ids:
            return
        found = await self.store.reposts_of(post_ids)
        authors = [(post_id, reposts.author_id) for post_id, reposts
                   in zip(post_ids, found, strict=True) if reposts.author_id is not None]
        alive = await self.store.contains([("authored", author, (post_id, None))
                                           for post_id, author in authors])
        routes: list[tuple[int, TimelineItem]] = []  # (account to follow, item)
        for (post_id, author), live in zip(authors, alive, strict=True):
            if live:
                routes.append((author, (post_id, None)))
        for post_id, reposts in zip(post_ids, found, strict=True):
            routes += [(r, (repost_id, post_id)) for r, repost_id in reposts.by_reposter.items()]
        if not routes:
            return
        via = sorted({account for account, _ in routes})
        for reader in readers:
            follows = await self.store.following_among(reader, via)
            reachable = {a for a, f in zip(via, follows, strict=True) if f} | {reader}
            await self.store.push([reader], _oldest_first(
                item for account, item in routes if account in reachable))

    async def _followed(self, follower_id: int, followee_id: int) -> None:
        await self._followed_many([(follower_id, followee_id)])

    async def _followed_many(self, follows: Sequence[tuple[int, int]]) -> None:
        """Record follows, in order; promote a followee the moment it crosses the
        threshold; backfill each follower with the recent items of the followees
        that are not celebrities, one push per follower."""
        counts = await self.store.add_follows(follows)  # followers after each follow
        followees = list(dict.fromkeys(followee for _, followee in follows))
        famous = dict(zip(followees, await self.store.celebrities_among(followees),
                          strict=True))
        backfill: dict[int, set[int]] = {}  # follower -> followees to backfill from
        for (follower_id, followee_id), audience in zip(follows, counts, strict=True):
            if audience > self.celebrity_threshold and not famous[followee_id]:
                await self._promote(followee_id)
                famous[followee_id] = True
            if not famous[followee_id]:
                backfill.setdefault(follower_id, set()).add(followee_id)
        sources = sorted({f for wanted in backfill.values() for f in wanted})
        recent = await self.store.recent_authored_many(sources, self.backfill)
        await self.store.push_each({
            follower_id: _oldest_first({item for f in wanted for item in recent[f]})
            for follower_id, wanted in backfill.items()})

    async def _unfollowed(self, follower_id: int, followee_id: int) -> None:
        followers = await self.store.remove_follow(follower_id, followee_id)
        authored = await self.store.recent_authored(followee_id, self.max_entries)
        await self.store.remove([follower_id], authored)
        originals = sorted({original or item for item, original in authored})
        await self._repair([follower_id], originals)
        if followers <= self.celebrity_threshold and await self.store.is_celebrity(followee_id):
            await self._demote(followee_id)

    async def _promote(self, account_id: int) -> None:
        newest = await self.store.recent_authored(account_id, 1)
        await self.store.mark_celebrity(account_id, newest[0] if newest else None)

    async def _demote(self, account_id: int) -> None:
        """Push what was only pulled while a celebrity, then resume pushing.

        Everything since the promotion goes to every follower, and so does the
        usual follow backfill, for those who followed while the author was a
        celebrity (their follow was not backfilled, the posts were pulled).
        """
        since = await self.store.celebrity_since(account_id)
        missed = await self.store.recent_authored(account_id, self.max_entries, since)
        recent = await self.store.recent_authored(account_id, self.backfill)
        await self.store.push(await self.store.followers(account_id),
                              _oldest_first({*missed, *recent}))
        await self.store.unmark_celebrity(account_id)


_FOLLOWS = frozenset({"Followed", "Refollowed"})
_UNDO_OR_REDO = frozenset({"Unfollowed", "Refollowed", "Unreposted", "Rereposted"})


def _edge_of(event: EventEnvelope) -> tuple[int, str] | None:
    """The follow or repost edge an event changes, as ``(account, edge_field)``."""
    p = event.payload
    if event.type in ("Followed", "Refollowed", "Unfollowed"):
        return p["follower_id"], edge_field("f", p["followee_id"])
    if event.type in ("Reposted", "Rereposted", "Unreposted"):
        return p["account_id"], edge_field("r", p["post_id"])
    return None


def _both_follows(previous: EventEnvelope, event: EventEnvelope) -> bool:
    """Runs of ``_followed_many``: consecutive follows together."""
    return event.type in _FOLLOWS and previous.type in _FOLLOWS


def _oldest_first(items: Iterable[TimelineItem]) -> list[TimelineItem]:
    """Items by id (item ids are unique: posts and reposts share one id space)."""
    return sorted(items, key=itemgetter(0))
