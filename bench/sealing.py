"""What sealing personal fields (issue 12, ``infra.personal_data``) costs.

    python -m bench.sealing [--posts 5000]

Rates are per second of the process's CPU time, best of three interleaved rounds.
Three blocks, each figure beside the raw limit underneath it:

* ``CreatePost`` in process (``CommandBus.handle`` on ``MemoryEventStore``: no
  server, so only the CPU the write side spends), with the sealing mapper (as
  built) and with eventsourcing's plain mapper (before);
* the mapper alone (``to_stored_event`` of one ``PostCreated``), sealed and plain;
* the event log's decoding of one stored ``PostCreated`` (``envelope_from_record``,
  what the relay, catch-up and rebuilds do per event), sealed with its key and plain;

and the raw limit: one AES-256-GCM encryption and one decryption of a post-sized
field with ``cryptography``, per second.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper

from commands.messages import Actor, CreatePost, RegisterAccount
from domain.ids import account_uuid
from domain.posts import Post
from infra.bootstrap import build_command_bus
from infra.event_store import MemoryEventStore
from infra.eventlog import envelope_from_record
from infra.personal_data import MemoryKeyRing, SealingMapper
from infra.serialization import build_transcoder
from infra.settings import Settings
from tests.fakes.revocations import MemoryRevocations

ROUNDS = 3
TEXT = "A post of an ordinary length, with a #hashtag and a few words more " * 2


class PlainMemoryEventStore(MemoryEventStore):
    """The store as it was before sealing: eventsourcing's mapper, nothing sealed."""

    name = "Roost"

    def construct_mapper(self) -> Mapper[UUID]:
        return Mapper(transcoder=self.construct_transcoder())


def _rate(n: int, run: Callable[[int], Any]) -> float:
    """Calls per second of this process's CPU time (so other processes' load on a
    shared machine counts less than in wall time)."""
    started = time.process_time()
    for i in range(n):
        run(i)
    return n / (time.process_time() - started)


def create_posts(store: MemoryEventStore, n: int) -> float:
    """CreatePost per second through the command bus, one author."""
    bus = build_command_bus(Settings(), store=store, revocations=MemoryRevocations())
    bus.handle(RegisterAccount("bencher", "bench@example.org", "correct horse battery"))
    account = store.get_or_none(account_uuid("bencher"))
    actor = Actor(account.account_id, "bencher", "bench")
    for _ in range(50):  # warm up
        bus.handle(CreatePost(actor, TEXT))
    return _rate(n, lambda _: bus.handle(CreatePost(actor, TEXT)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=5000)
    n = parser.parse_args().posts

    sealed = plain = 0.0
    for _ in range(ROUNDS):  # interleaved, best of each: a shared machine is noisy
        sealed = max(sealed, create_posts(MemoryEventStore(), n))
        plain = max(plain, create_posts(PlainMemoryEventStore(), n))

    keys = MemoryKeyRing()
    sealing = SealingMapper(build_transcoder(), keys)
    plain_mapper: Mapper[UUID] = Mapper(transcoder=build_transcoder())
    posts = [Post(post_id=i + 1, author_id=1, author_username="bencher", text=TEXT,
                  mentions=[], hashtags=["hashtag"], reply_to_id=None, quote_of_id=None)
             for i in range(n)]
    events = [p.collect_events()[0] for p in posts]
    map_sealed = max(_rate(n, lambda i: sealing.to_stored_event(events[i]))
                     for _ in range(ROUNDS))
    map_plain = max(_rate(n, lambda i: plain_mapper.to_stored_event(events[i]))
                    for _ in range(ROUNDS))

    rows_sealed = [sealing.to_stored_event(e) for e in events]
    rows_plain = [plain_mapper.to_stored_event(e) for e in events]
    ring = keys.keys([account_uuid("bencher").hex])
    read_sealed = max(_rate(n, lambda i: envelope_from_record(
        i, rows_sealed[i].originator_id, 1, rows_sealed[i].topic, rows_sealed[i].state, ring))
        for _ in range(ROUNDS))
    read_plain = max(_rate(n, lambda i: envelope_from_record(
        i, rows_plain[i].originator_id, 1, rows_plain[i].topic, rows_plain[i].state))
        for _ in range(ROUNDS))

    aead, nonce, field = AESGCM(os.urandom(32)), os.urandom(12), TEXT.encode()
    sealed_field = aead.encrypt(nonce, field, b"aad")
    encrypt = _rate(n, lambda _: aead.encrypt(nonce, field, b"aad"))
    decrypt = _rate(n, lambda _: aead.decrypt(nonce, sealed_field, b"aad"))

    print(f"CreatePost in process ({n} posts, MemoryEventStore)")
    print(f"  sealed (as built)        {sealed:>10,.0f} /s   {1e6 / sealed:8.1f} us each")
    print(f"  plain (before)           {plain:>10,.0f} /s   {1e6 / plain:8.1f} us each")
    print("to_stored_event of one PostCreated (4 fields sealed)")
    print(f"  sealed                   {map_sealed:>10,.0f} /s   {1e6 / map_sealed:8.1f} us each")
    print(f"  plain                    {map_plain:>10,.0f} /s   {1e6 / map_plain:8.1f} us each")
    print("envelope_from_record of one stored PostCreated")
    print(f"  sealed, key at hand      {read_sealed:>10,.0f} /s   "
          f"{1e6 / read_sealed:8.1f} us each")
    print(f"  plain                    {read_plain:>10,.0f} /s   {1e6 / read_plain:8.1f} us each")
    print(f"raw limit: AES-256-GCM of a {len(field)}-byte field (cryptography)")
    print(f"  encrypt                  {encrypt:>10,.0f} /s   {1e6 / encrypt:8.1f} us each")
    print(f"  decrypt                  {decrypt:>10,.0f} /s   {1e6 / decrypt:8.1f} us each")


if __name__ == "__main__":
    main()
