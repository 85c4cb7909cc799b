"""The Redis key layout, shared by the projectors and the queries.

Timelines are sorted sets whose members are item ids zero-padded to 19
digits, all with score 0. Redis orders equal-score members lexically, and
for equal-width decimals lexical order is numeric order, so ordering and
cursor paging (``ZRANGE ... BYLEX REV``) are exact for all 63-bit ids; a
double score could not hold such an id exactly. A repost's member is its own
id, a colon and the original's id (``<repost>:<original>``): it sorts by the
repost's id and names what to show.

Per-account keys carry the account id as a hash tag (``{42}``) so that a
reader's timeline and its index live in one Redis Cluster slot; per-post keys
the post id. Every multi-key script, transaction and command names keys of one
slot (docs/architecture.md, "Redis key layout and hash tags"); the prefix must
hold no ``{``, or its braces would be the tag.
"""

from __future__ import annotations

from dataclasses import dataclass

ID_WIDTH = 19
SENTINEL = "0" * ID_WIDTH
ERASED = "erased"
"""The member of a ``deleted`` set that buries every post of an erased account."""
REPOSTS_AUTHOR_FIELD = "author"
"""The field of a ``repostsof`` hash that holds the post's author (not a reposter)."""
"""Marks a timeline as kept (a reader is active) even while it has no items."""


TIMELINE_KINDS = ("home", "homeidx", "authored", "followers", "following", "celebsince",
                  "repostsof", "deleted", "edgepos", "celebrities")
"""The first part after the prefix of every key the timeline projector owns, but its
position (``celebrities`` is one key; the others ``<kind>:{<id>}``)."""


def member(item_id: int, original_id: int | None = None) -> str:
    padded = f"{item_id:0{ID_WIDTH}d}"
    return padded if original_id is None else f"{padded}:{original_id:0{ID_WIDTH}d}"


def parse_member(raw: str | bytes) -> tuple[int, int | None]:
    """``(item_id, original_id)``; ``original_id`` is ``None`` for a post itself."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    item, _, original = text.partition(":")
    return int(item), (int(original) if original else None)


def post_id_of(raw: str | bytes) -> int:
    return parse_member(raw)[0]


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """All keys live under one prefix, so a test run or a tenant owns its own."""

    prefix: str

    def home(self, account_id: int) -> str:
        return f"{self.prefix}home:{{{account_id}}}"

    def home_index(self, account_id: int) -> str:
        """Original post id -> the member showing it in ``home`` (one item per post)."""
        return f"{self.prefix}homeidx:{{{account_id}}}"

    def authored(self, account_id: int) -> str:
        """The account's most recent posts and reposts (backfill and celebrity pulls)."""
        return f"{self.prefix}authored:{{{account_id}}}"

    def deleted(self, account_id: int) -> str:
        """Tombstones: the account's deleted posts (ids), and ``ERASED`` once the account
        is erased; in the hash slot of ``authored``."""
        return f"{self.prefix}deleted:{{{account_id}}}"

    def edge_positions(self, account_id: int) -> str:
        """The position of the last undo or redo (``Unfollowed``, ``Refollowed``,
        ``Unreposted``, ``Rereposted``) applied to each of the account's edges, by
        ``ports.timelines.edge_field``."""
        return f"{self.prefix}edgepos:{{{account_id}}}"

    def followers(self, account_id: int) -> str:
        return f"{self.prefix}followers:{{{account_id}}}"

    def following(self, account_id: int) -> str:
        return f"{self.prefix}following:{{{account_id}}}"

    def celebrities(self) -> str:
        """Accounts above the celebrity threshold: pulled at read time, never pushed."""
        return f"{self.prefix}celebrities"

    def celebrity_since(self, account_id: int) -> str:
        return f"{self.prefix}celebsince:{{{account_id}}}"

    def reposts_of(self, post_id: int) -> str:
        """Reposter id -> repost member, to take reposts away when a post is deleted;
        and ``REPOSTS_AUTHOR_FIELD`` -> the post's author."""
        return f"{self.prefix}repostsof:{{{post_id}}}"

    def post(self, post_id: int) -> str:
        return f"{self.prefix}post:{{{post_id}}}"

    def post_counts(self, post_id: int) -> str:
        return f"{self.prefix}postcounts:{{{post_id}}}"

    def account_facts(self, account_id: int) -> str:
        """An account as others are shown it, or ``0`` (not shown): ``infra.page_facts``."""
        return f"{self.prefix}acct:{{{account_id}}}"

    def repost_facts(self, repost_id: int) -> str:
        """A repost's reposter and time, or ``0`` (no active repost): ``infra.page_facts``."""
        return f"{self.prefix}repost:{{{repost_id}}}"

    def reader_facts(self, reader_id: int) -> str:
        """The reader's likes, reposts and hidden accounts, a field each: ``infra.page_facts``."""
        return f"{self.prefix}rfacts:{{{reader_id}}}"

    def projection_position(self, name: str) -> str:
        """The projection's name is the key's hash tag (``{trends}``): a projection that
        records its position in the script that writes its keys (the trends) tags them
        alike, so on a Redis Cluster they share one slot."""
        return f"{self.prefix}projection:{{{name}}}:position"

    def worker_heartbeat(self) -> str:
        """Set by every running worker, expiring soon after it stops."""
        return f"{self.prefix}worker:heartbeat"

    def relay_heartbeat(self) -> str:
        """Set by the active relay while it follows the log, expiring soon after it stops."""
        return f"{self.prefix}relay:heartbeat"

    def health_progress(self) -> str:
        """Since when each part has stood still, as every API process's /health saw it."""
        return f"{self.prefix}health:progress"

    def projector_lease(self, name: str) -> str:
        return f"{self.prefix}projection:{name}:lease"

    def live_copy(self, name: str) -> str:
        """The label (``v2``) of the live copy of Redis projection ``name``; absent while
        copy ``v1``, the keys under the prefix itself, is live (``infra.redis_copies``)."""
        return f"{self.prefix}projection:{name}:live"

    def revoked_session(self, session_id: str) -> str:
        return f"{self.prefix}revoked:{session_id}"

    def suspended_account(self, account_id: int) -> str:
        """Present while the account is suspended (no expiry): its tokens are refused."""
        return f"{self.prefix}suspended:{account_id}"

    def timeline_patterns(self) -> tuple[str, ...]:
        """Everything the timeline projector owns (for a rebuild), but its position."""
        return (*(f"{self.prefix}{kind}:*" for kind in TIMELINE_KINDS[:-1]), self.celebrities())
