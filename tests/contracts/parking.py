"""The contract of ``ports.parking.ParkingLot``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from infra.eventlog import decode_record
from ports.events import EventEnvelope
from ports.parking import ParkingLot


def envelope(position: int, **payload: object) -> EventEnvelope:
    return EventEnvelope(
        position=position, event_id=f"00000000-0000-0000-0000-{position:012d}",
        type="PostCreated", aggregate_id="5499994e-e77d-5da8-80cd-aa0a1f577053",
        aggregate_version=1, occurred_at="2026-11-24T10:00:00.123Z", schema_version=1,
        payload={"post_id": 2**63 - 1, "text": "h\u00e9llo", **payload},
    )


class ParkingLotContract:
    """Fixture: ``lot``, an empty ``ParkingLot``."""

    async def test_an_empty_lot(self, lot: ParkingLot) -> None:
        assert await lot.list_parked() == []
        assert await lot.counts() == {}
        assert await lot.take("timelines") == []

    async def test_parked_events_are_listed_by_projector_then_position(
        self, lot: ParkingLot,
    ) -> None:
        await lot.park("timelines", envelope(7), "RuntimeError('x')", 5)
        await lot.park("timelines", envelope(3), "RuntimeError('y')", 5)
        await lot.park("read_models", envelope(7), "KeyError('z')", 0)
        listed = await lot.list_parked()
        assert [(r["projector"], r["position"], r["event_type"], r["error"], r["attempts"])
                for r in listed] == [
            ("read_models", 7, "PostCreated", "KeyError('z')", 0),
            ("timelines", 3, "PostCreated", "RuntimeError('y')", 5),
            ("timelines", 7, "PostCreated", "RuntimeError('x')", 5)]
        assert all(isinstance(r["parked_at"], datetime) and r["parked_at"].tzinfo
                   for r in listed)
        assert [r["position"] for r in await lot.list_parked("timelines")] == [3, 7]
        assert await lot.list_parked("search") == []
        assert await lot.counts() == {"read_models": 1, "timelines": 2}

    async def test_parking_again_replaces_the_error_and_attempts(self, lot: ParkingLot) -> None:
        await lot.park("timelines", envelope(7), "RuntimeError('x')", 5)
        await lot.park("timelines", envelope(7), "RuntimeError('again')", 6)
        assert [(r["position"], r["error"], r["attempts"])
                for r in await lot.list_parked()] == [(7, "RuntimeError('again')", 6)]
        assert await lot.counts() == {"timelines": 1}

    async def test_take_returns_the_envelopes_oldest_first_until_released(
        self, lot: ParkingLot,
    ) -> None:
        for position in (9, 3, 5):
            await lot.park("timelines", envelope(position), "e", 5)
        await lot.park("read_models", envelope(4), "e", 5)
        assert await lot.take("timelines") == [envelope(3), envelope(5), envelope(9)]
        assert await lot.take("timelines") == [envelope(3), envelope(5), envelope(9)]
        await lot.release("timelines", 5)
        await lot.release("timelines", 6)  # not parked: nothing happens
        assert await lot.take("timelines") == [envelope(3), envelope(9)]
        assert await lot.take("read_models") == [envelope(4)]
        assert await lot.counts() == {"read_models": 1, "timelines": 2}

    async def test_any_content_is_parked_and_comes_back(self, lot: ParkingLot) -> None:
        """U+0000, characters beyond the BMP, a stored row that was not even UTF-8
        (read as an ``Undecodable`` envelope), an integer beyond 64 bits."""
        nul = envelope(1, text="a\x00b \U0001f41b", mentions=["\x00"])
        undecodable = decode_record(2, uuid.UUID(int=2), 1, "domain.posts:Post.PostCreated",
                                    b"\xff\x00 not json")
        assert undecodable.type == "Undecodable"
        huge = envelope(3, reply_to_id=2**70)
        for event in (nul, undecodable, huge):
            await lot.park("read_models", event, f"ValueError('{event.payload}')", 2)
        taken = await lot.take("read_models")
        assert taken[:2] == [nul, undecodable]
        assert taken[2].payload["reply_to_id"] == 2**70  # a JSON number: read back a float
        assert taken[2] == envelope(3, reply_to_id=taken[2].payload["reply_to_id"])

    async def test_what_an_operator_reads_is_text_without_u0000(self, lot: ParkingLot) -> None:
        odd = replace(envelope(1), type="Post\x00" + "x" * 300)
        await lot.park("read_models", odd, "ValueError('\x00')" + "y" * 3000, 1)
        [row] = await lot.list_parked()
        assert row["error"].startswith("ValueError('\\x00')") and len(row["error"]) == 2000
        assert row["event_type"].startswith("Post\\x00x") and len(row["event_type"]) == 200
        assert await lot.take("read_models") == [odd]
