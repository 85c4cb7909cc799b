"""The read models' policy: which event changes which account, post, edge and count.

A batch of events is applied in one transaction of the read-model store
(``ports.read_models``) together with the projector's position, so the
projection is exactly-once against its store; the row versions guard updates
so that even a replay from scratch over existing rows changes nothing. Inside
a batch, consecutive edge events of one kind are applied as a run, in a few
batch-shaped calls. How the rows are stored (tables, statements) is the
store's adapter (``infra.read_model_store``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ports.events import EventEnvelope
from ports.page_facts import FactKeys, FactsSink, Pair
from ports.post_cache import PostCountsSink
from ports.projectors import READ_MODELS
from ports.read_models import (
    AdminChange,
    Count,
    Edge,
    EdgeKind,
    NewAccount,
    NewMedia,
    NewPost,
    ProfileChange,
    ReadModelStore,
    ReadModelWriter,
    SuspensionChange,
)
from projections.base import StoreProjector, after, runs


async def _account_registered(tx: ReadModelWriter, e: EventEnvelope) -> None:
    p = e.payload
    await tx.add_account(NewAccount(
        account_id=p["account_id"], aggregate_id=e.aggregate_id, username=p["username"],
        email=p.get("email", ""), display_name=p["display_name"], created_at=e.occurred_at,
        version=e.aggregate_version))


async def _profile_updated(tx: ReadModelWriter, e: EventEnvelope) -> None:
    p = e.payload
    await tx.update_profile(ProfileChange(
        aggregate_id=e.aggregate_id, display_name=p["display_name"], bio=p["bio"],
        avatar_url=p["avatar_url"], version=e.aggregate_version))


async def _admin_changed(tx: ReadModelWriter, e: EventEnvelope) -> None:
    await tx.set_admin(AdminChange(aggregate_id=e.aggregate_id,
                                   is_admin=e.type == "AdminGranted",
                                   version=e.aggregate_version))


async def _suspension_changed(tx: ReadModelWriter, e: EventEnvelope) -> None:
    """Record when the account was suspended (``None`` once lifted): the readers leave
    it and its posts out (``infra.read_model_reader``, ``queries``)."""
    suspended = e.type == "AccountSuspended"
    await tx.set_suspension(SuspensionChange(
        aggregate_id=e.aggregate_id, suspended_at=e.occurred_at if suspended else None,
        version=e.aggregate_version))


async def _post_created(tx: ReadModelWriter, e: EventEnvelope) -> None:
    """Add the post; only if it was not there (nor its tombstone), count it for its
    author and its parent and add its tag rows (the tag timelines)."""
    p = e.payload
    if await tx.add_post(NewPost(
            post_id=p["post_id"], author_id=p["author_id"], text=p["text"],
            reply_to_id=p["reply_to_id"], quote_of_id=p["quote_of_id"],
            mentions=p["mentions"], hashtags=p["hashtags"], created_at=e.occurred_at,
            version=e.aggregate_version, media_ids=tuple(p.get("media_ids") or ()))):
        await tx.add_to_counts("posts_count", {p["author_id"]: 1})
        if p["reply_to_id"] is not None:
            await tx.add_to_counts("replies_count", {p["reply_to_id"]: 1})
        await tx.add_post_tags(p["post_id"], p["author_id"], p["hashtags"])
    if p.get("media_ids"):  # absent from posts created before media existed
        await tx.attach_media(p["post_id"], [int(i) for i in p["media_ids"]])


async def _media_uploaded(tx: ReadModelWriter, e: EventEnvelope) -> None:
    p = e.payload
    await tx.add_media(NewMedia(
        media_id=p["media_id"], owner_id=p["owner_id"], description=p["description"],
        blurhash=p["blurhash"], original=p["original"], small=p["small"],
        created_at=e.occurred_at, version=e.aggregate_version))


async def _media_described(tx: ReadModelWriter, e: EventEnvelope) -> None:
    p = e.payload
    await tx.describe_media(p["media_id"], p["description"], e.aggregate_version)


async def _post_deleted(tx: ReadModelWriter, e: EventEnvelope) -> list[int]:
    """Mark the post deleted and remove its tag rows; if its creation was never applied
    (parked), leave a tombstone, so that replaying the creation later cannot bring it
    back."""
    p = e.payload
    return await _delete_post(tx, p["post_id"], p["author_id"], e.occurred_at,
                              e.aggregate_version)


async def _delete_post(tx: ReadModelWriter, post_id: int, author_id: int, at: str,
                       version: int) -> list[int]:
    """The delete-post path (``PostDeleted``, and each post of an erased account); the
    posts whose counts it changed beside this one (its parent)."""
    stored = await tx.lock_post(post_id)
    if stored is None:
        await tx.add_tombstone(post_id, author_id, at, version)
        return []
    if stored.deleted:
        return []
    await tx.mark_deleted(post_id, at, version)
    await tx.add_to_counts("posts_count", {author_id: -1})
    if stored.reply_to_id is not None:
        await tx.add_to_counts("replies_count", {stored.reply_to_id: -1})
    await tx.remove_post_tags(post_id, stored.hashtags)
    return [] if stored.reply_to_id is None else [stored.reply_to_id]


ERASED_POST_VERSION = 2
"""The version an erased account's posts are marked deleted with: ``PostDeleted``'s (a
post has two events at most), so a ``PostDeleted`` applied later changes nothing."""


async def _account_erased(tx: ReadModelWriter, e: EventEnvelope,
                          facts: Touched | None = None) -> list[int]:
    """Purge an erased account: each of its live posts takes the delete-post path (its
    replies stay, their parent shows as deleted), its active follows, likes and
    reposts turn off (counts move as an undo would move them), then its row and its
    posts' text go. The posts whose counts or existence changed; the facts it changed
    go to ``facts``."""
    account_id = int(e.payload["account_id"])
    touched: list[int] = []
    for post_id in await tx.live_post_ids(account_id):
        touched += [post_id, *await _delete_post(tx, post_id, account_id, e.occurred_at,
                                                 ERASED_POST_VERSION)]
    if facts is not None:  # its blocks and mutes stay as they are
        facts.accounts.add(account_id)
    for rule in (FOLLOWS, LIKES, REPOSTS):
        edges = await tx.active_edges(rule.kind, account_id)
        if facts is not None:
            for edge in edges:  # handed over in parts (RedisFactsCache.set_facts)
                facts.edge(rule, edge.a, edge.b, edge.repost_id)
        if not edges:
            continue
        await tx.write_edges(rule.kind, [
            edge._replace(active=False, version=edge.version + 1, position=e.position,
                          since=e.occurred_at) for edge in edges])
        for count, end in rule.counts:
            steps: Counter[int] = Counter()
            for edge in edges:
                steps[(edge.a, edge.b)[end]] -= 1
            await tx.add_to_counts(count, steps)
        if rule.kind != "follows":
            touched += [edge.b for edge in edges]
    await tx.erase_account(account_id)
    return touched


@dataclass(frozen=True)
class EdgeRule:
    """An edge kind: the payload fields of its two ends, the counts that move when an
    edge turns on or off (and which end's row holds each), whether it carries a
    repost id."""

    kind: EdgeKind
    ends: tuple[str, str]
    counts: tuple[tuple[Count, int], ...] = ()
    repost_id: bool = False

    def key(self, e: EventEnvelope) -> tuple[int, int]:
        return int(e.payload[self.ends[0]]), int(e.payload[self.ends[1]])

    def edge(self, e: EventEnvelope) -> Edge:
        a, b = self.key(e)
        return Edge(a, b, e.type not in TURNS_OFF, e.aggregate_version, e.position,
                    e.occurred_at, e.payload["repost_id"] if self.repost_id else None)


FOLLOWS = EdgeRule("follows", ("follower_id", "followee_id"),
                   counts=(("following_count", 0), ("followers_count", 1)))
LIKES = EdgeRule("likes", ("account_id", "post_id"), counts=(("likes_count", 1),))
REPOSTS = EdgeRule("reposts", ("account_id", "post_id"), counts=(("reposts_count", 1),),
                   repost_id=True)
BLOCKS = EdgeRule("blocks", ("blocker_id", "blocked_id"))
MUTES = EdgeRule("mutes", ("muter_id", "muted_id"))
TURNS_OFF = frozenset({"Unfollowed", "Unliked", "Unreposted", "Unblocked", "Unmuted"})
EDGE_EVENTS: dict[str, EdgeRule] = {
    **dict.fromkeys(("Followed", "Refollowed", "Unfollowed"), FOLLOWS),
    **dict.fromkeys(("Liked", "Reliked", "Unliked"), LIKES),
    **dict.fromkeys(("Reposted", "Rereposted", "Unreposted"), REPOSTS),
    **dict.fromkeys(("Blocked", "Reblocked", "Unblocked"), BLOCKS),
    **dict.fromkeys(("Muted", "Remuted", "Unmuted"), MUTES),
}


async def _set_edges(tx: ReadModelWriter, rule: EdgeRule, events: Sequence[EventEnvelope]
                     ) -> None:
    """Apply a run of events of one edge kind, in order, in a few calls.

    Per edge only the newest version beyond the stored one is written, and each
    count moves by (active now) - (active before): what applying the events
    one by one would do, in one locked read, one write and one call per count.
    """
    keys = list(dict.fromkeys(rule.key(e) for e in events))
    stored = await tx.lock_edges(rule.kind, keys)
    newest: dict[tuple[int, int], EventEnvelope] = {}
    for e in events:
        key = rule.key(e)
        seen = newest[key].aggregate_version if key in newest else \
            stored[key].version if key in stored else 0
        if e.aggregate_version > seen:  # else this or a later state is already applied
            newest[key] = e
    if not newest:
        return
    await tx.write_edges(rule.kind, [rule.edge(e) for e in newest.values()])
    deltas: dict[Count, Counter[int]] = {}
    for key, e in newest.items():
        step = int(e.type not in TURNS_OFF) - int(key in stored and stored[key].active)
        for count, end in rule.counts if step else ():
            deltas.setdefault(count, Counter())[key[end]] += step
    for count, by_id in deltas.items():
        await tx.add_to_counts(count, by_id)


@dataclass
class Touched:
    """The facts (``ports.page_facts``) a transaction may have changed: what the projector
    reads back and hands the facts cache before it commits."""

    accounts: set[int] = field(default_factory=set)
    account_aggregates: set[str] = field(default_factory=set)
    reposts: set[int] = field(default_factory=set)
    liked: set[Pair] = field(default_factory=set)
    reposted: set[Pair] = field(default_factory=set)
    hidden: set[Pair] = field(default_factory=set)

    def edge(self, rule: EdgeRule, a: int, b: int, repost_id: int | None) -> None:
        """An edge of ``rule``'s kind between ``a`` and ``b`` was (or may have been) set."""
        if rule is FOLLOWS:
            self.accounts |= {a, b}  # their counts
        elif rule is LIKES:
            self.liked.add((a, b))
        elif rule is REPOSTS:
            self.reposted.add((a, b))
            if repost_id is not None:
                self.reposts.add(int(repost_id))
        elif rule is BLOCKS:
            self.hidden |= {(a, b), (b, a)}
        else:
            self.hidden.add((a, b))  # a mute hides for the muter only

    def event(self, e: EventEnvelope) -> None:
        """What ``e`` may change (an erasure's edges are added by ``_account_erased``)."""
        p = e.payload
        rule = EDGE_EVENTS.get(e.type)
        if rule is not None:
            a, b = rule.key(e)
            self.edge(rule, a, b, p.get("repost_id"))
        elif e.type in ("AccountRegistered", "AccountErased"):
            self.accounts.add(int(p["account_id"]))
        elif e.type in ("ProfileUpdated", "AccountSuspended", "AccountUnsuspended"):
            self.account_aggregates.add(str(e.aggregate_id))
        elif e.type in ("PostCreated", "PostDeleted"):
            self.accounts.add(int(p["author_id"]))  # its posts_count

    def keys(self) -> FactKeys:
        return FactKeys(accounts=frozenset(self.accounts), reposts=frozenset(self.reposts),
                        liked=frozenset(self.liked), reposted=frozenset(self.reposted),
                        hidden=frozenset(self.hidden),
                        account_aggregates=frozenset(self.account_aggregates))


HANDLERS: dict[str, Callable[[ReadModelWriter, EventEnvelope], Awaitable[object]]] = {
    "AccountRegistered": _account_registered,
    "ProfileUpdated": _profile_updated,
    "AdminGranted": _admin_changed,
    "AdminRevoked": _admin_changed,
    "AccountSuspended": _suspension_changed,
    "AccountUnsuspended": _suspension_changed,
    "PostCreated": _post_created,
    "PostDeleted": _post_deleted,
    "AccountErased": _account_erased,
    "MediaUploaded": _media_uploaded,
    "MediaDescribed": _media_described,
}
"""Events applied one at a time; edge events (``EDGE_EVENTS``) go in runs."""


def _same_edge_kind(previous: EventEnvelope, event: EventEnvelope) -> bool:
    """Runs of ``_apply_run``: consecutive events of one edge kind together."""
    return event.type in EDGE_EVENTS and EDGE_EVENTS.get(previous.type) is EDGE_EVENTS[event.type]


async def _apply_run(tx: ReadModelWriter, run: list[EventEnvelope],
                     facts: Touched | None = None) -> list[int]:
    """Apply a run; the posts whose counts it changed that ``posts_touched`` cannot
    tell from the events (an erased account's). The facts it may change go to
    ``facts``."""
    if facts is not None:
        for event in run:
            facts.event(event)
    rule = EDGE_EVENTS.get(run[0].type)
    if rule is not None:
        await _set_edges(tx, rule, run)
    elif run[0].type == "AccountErased":
        return await _account_erased(tx, run[0], facts)
    elif (handler := HANDLERS.get(run[0].type)) is not None:
        await handler(tx, run[0])
    return []


def posts_touched(event: EventEnvelope) -> list[int]:
    """Posts whose counts or existence ``event`` may change (their parents are added
    by ``ReadModelWriter.post_counts``)."""
    p = event.payload
    if (event.type in HANDLERS or event.type in EDGE_EVENTS) and "post_id" in p \
            and event.type != "PostCreated":
        return [p["post_id"]]
    if event.type == "PostCreated" and p.get("reply_to_id") is not None:
        return [p["reply_to_id"]]
    return []


class ReadModelProjector(StoreProjector[ReadModelStore]):
    """Applies events to the read models (``ports.read_models.ReadModelStore``), exactly
    once per position."""

    name = READ_MODELS

    def __init__(self, store: ReadModelStore,
                 counts_sink: PostCountsSink | None = None,
                 facts_sink: FactsSink | None = None) -> None:
        """``counts_sink`` (the post cache) gets the absolute counts of the posts each
        transaction touched, ``facts_sink`` (the facts cache, ``ports.page_facts``) the
        facts it may have changed, before it commits; their ``DependencyUnavailable``
        rolls the transaction back to be retried."""
        self.store = store
        self.counts_sink = counts_sink
        self.facts_sink = facts_sink

    async def apply_batch(self, events: Sequence[EventEnvelope], *,
                          expected_position: int = 0) -> None:
        """All the events in one transaction with the new position: all or nothing.

        The post cache gets the new counts inside that transaction, after the
        writes and before the commit. So once the position is visible the cache
        holds counts at least that new (a read with Roost-Min-Position never sees
        older ones), and a cache that cannot be reached rolls everything back to
        be retried, rather than leaving it stale after a commit. A commit that
        fails after the cache was told leaves counts that the event store already
        holds and the retry writes again."""
        async with self.store.transaction() as tx:
            position = await tx.locked_position()
            fresh = after(position, events, expected_position)
            if not fresh:
                return
            touched: list[int] = []
            facts = Touched() if self.facts_sink is not None else None
            for run in runs(fresh, _same_edge_kind):
                touched += await _apply_run(tx, run, facts)
                for event in run:
                    touched += posts_touched(event)
            await self._publish_counts(tx, touched)
            await self._publish_facts(tx, facts)
            await tx.set_position(fresh[-1].position)

    async def _publish_counts(self, tx: ReadModelWriter, post_ids: list[int]) -> None:
        """Hand the counts this transaction wrote to the post cache (absolute values:
        idempotent)."""
        if not post_ids or self.counts_sink is None:
            return
        await self.counts_sink.set_counts(await tx.post_counts(sorted(set(post_ids))))

    async def _publish_facts(self, tx: ReadModelWriter, facts: Touched | None) -> None:
        """Hand the facts this transaction may have changed to the facts cache, as they
        now are (absolute values: idempotent)."""
        if facts is None or self.facts_sink is None or not (keys := facts.keys()):
            return
        await self.facts_sink.set_facts(await tx.facts(keys))

    async def replay(self, event: EventEnvelope) -> None:
        """Apply a parked event's writes again, leaving the position alone."""
        async with self.store.transaction() as tx:
            facts = Touched() if self.facts_sink is not None else None
            touched = await _apply_run(tx, [event], facts)
            await self._publish_counts(tx, [*touched, *posts_touched(event)])
            await self._publish_facts(tx, facts)

    async def refresh_caches(self, events: Sequence[EventEnvelope]) -> None:
        """Hand the caches what ``events`` may have changed, as the read models now hold
        it, for events another projector applied: a blue-green copy's, whose projector
        has no sinks, between the live copy's position and the copy's at the switch.
        Under the position's lock, so no live batch commits between the read and the
        write. (An erasure's edges are gone by now: the erased account's own entry is
        refreshed, its former followees' counts are not until their next change.)"""
        if not events or (self.counts_sink is None and self.facts_sink is None):
            return
        async with self.store.transaction() as tx:
            await tx.locked_position()
            facts = Touched() if self.facts_sink is not None else None
            touched: list[int] = []
            for event in events:
                if facts is not None:
                    facts.event(event)
                touched += posts_touched(event)
            await self._publish_counts(tx, touched)
            await self._publish_facts(tx, facts)

    async def advance(self, position: int) -> None:
        async with self.store.transaction() as tx:
            if await tx.locked_position() < position:
                await tx.set_position(position)

    async def after_rebuild(self) -> None:
        """Refresh the store's planner statistics of the tables a rebuild filled from
        empty: until then the queries' plans, the API's included, can be wrong by
        orders of magnitude."""
        await self.store.analyze()
