"""The facts cache in Redis (port ``ports.page_facts.FactsCache``).

Layout (``infra.redis_keys.RedisKeys``):

* ``acct:{<id>}``: an account as others are shown it, one orjson value, or
  ``0`` when it is not shown (no such account, erased, suspended);
* ``repost:{<repost id>}``: ``<reposter id>|<since>``, or ``0`` when no active
  repost has that id;
* ``rfacts:{<reader id>}``: one hash per reader, a field per fact asked about:
  ``l<post id>`` and ``r<post id>`` (``1``: the reader likes / reposts it,
  ``0``: not), ``h<account id>`` (``ports.page_facts.BLOCKED`` | ``MUTED``
  bits).

The read-model projector writes absolute values (``SET``, ``HSET``; a part's
writes in one ``page_facts_set.lua`` call, one per hash slot on a Redis Cluster)
just before its commit; a reader filling the cache writes only where nothing is
(``SET NX``, ``HSETNX`` in ``page_facts_fill_fields.lua``). The accounts and
reposts live ``ttl_s`` (1 h) from their last write; a reader's hash lives
``reader_ttl_s`` (15 min) from its creation, whatever a reader adds to it
(``EXPIRE NX``), so its size is bounded by what the reader is shown in that
time; the projector's writes also push its end to at least ``reader_ttl_s``
ahead (``EXPIRE GT``), so a fill racing a projector write never lands in a
fresh hash made after the written one expired. (An eviction under
``maxmemory`` can still drop a hash between the two: run the cache without
eviction of these keys, docs/operations.md.)
Each call is one pipelined round trip; every key carries its own hash tag. A
read takes the accounts and reposts with one ``MGET`` on a single Redis (a ``GET``
each on a Redis Cluster, whose pipelines refuse ``MGET``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from infra.lua import Answer, PipelinedScript, load_script, pipelined
from infra.redis_clients import by_slot, is_cluster
from infra.redis_keys import RedisKeys
from ports.errors import DependencyUnavailable
from ports.page_facts import FactKeys, Facts, Pair, RepostFact, ShownAccount

_FILL_FIELDS = load_script("infra", "page_facts_fill_fields")
_SET = load_script("infra", "page_facts_set")
NOT_SHOWN = b"0"
"""The value of an account that is not shown, and of a repost id that is not active."""


def _account_value(account: ShownAccount | None) -> bytes:
    return NOT_SHOWN if account is None else orjson.dumps(account)


def _repost_value(repost: RepostFact | None) -> bytes:
    return NOT_SHOWN if repost is None else f"{repost.reposter_id}|{repost.since}".encode()


def _fields(facts: Facts) -> dict[int, dict[str, int]]:
    """Reader id -> its hash's fields for ``facts``' pairs."""
    by_reader: dict[int, dict[str, int]] = defaultdict(dict)
    for tag, values in (("l", facts.liked), ("r", facts.reposted), ("h", facts.hidden)):
        for (reader, other), value in values.items():
            by_reader[reader][f"{tag}{other}"] = int(value)
    return by_reader


SET_FACTS_PART = 2_000
"""Facts per pipelined round trip of ``set_facts``: an erasure of an account with
millions of followers sends them in parts, not in one pipeline held in memory."""


def _parts(facts: Facts, size: int) -> Iterator[Facts]:
    """``facts`` cut into parts of at most ``size`` facts each (in order: accounts,
    reposts, then the pairs)."""
    items = [(kind, key, value) for kind in ("accounts", "reposts", "liked", "reposted",
                                              "hidden")
             for key, value in getattr(facts, kind).items()]
    for start in range(0, len(items), size):
        part = Facts()
        for kind, key, value in items[start:start + size]:
            getattr(part, kind)[key] = value
        yield part


class RedisFactsCache:
    """``FactsCache`` over one Redis."""

    def __init__(self, redis: Redis, keys: RedisKeys, ttl_s: int = 3600,
                 reader_ttl_s: int = 900) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self.reader_ttl_s = reader_ttl_s
        self._fill_fields = PipelinedScript(_FILL_FIELDS)
        self._set = PipelinedScript(_SET)
        self.cluster = is_cluster(redis)

    async def get(self, keys: FactKeys) -> Facts:
        """The cached facts among ``keys``, in one round trip (none when it names no
        fact this cache keeps)."""
        if not (keys.accounts or keys.reposts or keys.liked or keys.reposted or keys.hidden):
            return Facts()
        async with self.redis.pipeline(transaction=False) as pipe:
            answer = self.queue_get(pipe, keys)
            return answer.read(await pipe.execute())

    def queue_get(self, pipe: Pipeline, keys: FactKeys) -> Answer[Facts]:
        """``get``'s commands, queued on ``pipe``, for a caller that sends more in the
        same round trip; reads their replies."""
        accounts, reposts = list(keys.accounts), list(keys.reposts)
        asked: dict[int, list[tuple[str, Pair]]] = defaultdict(list)
        for tag, pairs in (("l", keys.liked), ("r", keys.reposted), ("h", keys.hidden)):
            for pair in pairs:
                asked[pair[0]].append((tag, pair))
        strings = [*map(self.keys.account_facts, accounts),
                   *map(self.keys.repost_facts, reposts)]
        if self.cluster:  # its pipelines refuse MGET: a GET each, every key's own slot
            for key in strings:
                pipe.get(key)
        elif strings:
            pipe.mget(strings)
        for reader, fields in asked.items():
            pipe.hmget(self.keys.reader_facts(reader),
                       [f"{tag}{pair[1]}" for tag, pair in fields])
        string_replies = len(strings) if self.cluster else int(bool(strings))

        def read(replies: Sequence[Any]) -> Facts:
            values = (replies[:len(strings)] if self.cluster
                      else replies[0] if strings else [])
            facts = Facts()
            for account_id, raw in zip(accounts, values, strict=False):
                if raw is not None:
                    facts.accounts[account_id] = (None if raw == NOT_SHOWN
                                                  else orjson.loads(raw))
            for repost_id, raw in zip(reposts, values[len(accounts):], strict=True):
                if raw is not None:
                    reposter, _, since = raw.decode().partition("|")
                    facts.reposts[repost_id] = None if raw == NOT_SHOWN else \
                        RepostFact(int(reposter), since)
            found = replies[string_replies:string_replies + len(asked)]
            for (_, fields), answers in zip(asked.items(), found, strict=True):
                for (tag, pair), raw in zip(fields, answers, strict=True):
                    if raw is None:
                        continue
                    if tag == "h":
                        facts.hidden[pair] = int(raw)
                    else:
                        (facts.liked if tag == "l" else facts.reposted)[pair] = raw == b"1"
            return facts

        return Answer(string_replies + len(asked), read)

    async def fill(self, facts: Facts) -> None:
        """Store what a reader loaded from the read models, only where nothing is."""
        def fill(pipe: Pipeline) -> None:  # safe to repeat: "only where nothing is"
            for key, value in self._strings(facts):
                pipe.set(key, value, ex=self.ttl_s, nx=True)
            for reader, fields in _fields(facts).items():
                self._fill_fields.queue(pipe, [self.keys.reader_facts(reader)],
                                        [self.reader_ttl_s, *_flat(fields.items())])

        await pipelined(self.redis, [self._fill_fields], fill)

    async def set_facts(self, facts: Facts) -> None:
        """Authoritative facts, from the projector just before its transaction commits.

        Raises:
            DependencyUnavailable: Redis failed (down, out of memory, read-only): the
                projector's transaction rolls back and is retried, nothing is parked.
        """
        try:
            for part in _parts(facts, SET_FACTS_PART):
                await pipelined(self.redis, [self._set], partial(self._queue_set, part))
        except RedisError as error:
            raise DependencyUnavailable(f"facts cache: {error!r}") from error

    def _queue_set(self, facts: Facts, pipe: Pipeline) -> None:
        """``page_facts_set.lua`` calls for ``facts``, for one pipelined round trip: one
        call (one hash slot's keys on a Redis Cluster), not a command per fact, whose
        per-command cost in redis-py was most of a catch-up's facts writes. Safe to send
        again (absolute values), as ``pipelined`` does after ``NOSCRIPT``."""
        entries: list[tuple[str, bytes | dict[str, int]]] = [
            *self._strings(facts),
            *((self.keys.reader_facts(reader), fields)
              for reader, fields in _fields(facts).items())]
        for group in by_slot(entries, lambda entry: entry[0], self.cluster):
            keys: list[str] = []
            values: list[bytes | str | int] = []
            tail: list[bytes | str | int] = []
            for key, value in group:  # the strings come first in each group
                keys.append(key)
                if isinstance(value, bytes):
                    values.append(value)
                else:
                    tail += [len(value), *_flat(value.items())]
            self._set.queue(pipe, keys, [self.ttl_s, self.reader_ttl_s, len(values),
                                         *values, *tail])

    def _strings(self, facts: Facts) -> Iterator[tuple[str, bytes]]:
        """The string keys of ``facts`` (its accounts, then its reposts) and their
        values, for ``fill`` and ``set_facts`` alike."""
        for account_id, account in facts.accounts.items():
            yield self.keys.account_facts(account_id), _account_value(account)
        for repost_id, repost in facts.reposts.items():
            yield self.keys.repost_facts(repost_id), _repost_value(repost)


def _flat(fields: Iterable[tuple[str, int]]) -> list[str | int]:
    return [part for field, value in fields for part in (field, value)]
