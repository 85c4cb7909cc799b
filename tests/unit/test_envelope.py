"""The event envelope's JSON form."""

from __future__ import annotations

import orjson
import pytest

from domain.ids import MAX_ID
from ports.events import EventEnvelope


def sample() -> EventEnvelope:
    return EventEnvelope(
        position=42,
        event_id="0b5c1d9e-8f55-5c8c-9a55-c6c1a8a3f1a2",
        type="PostCreated",
        aggregate_id="5499994e-e77d-5da8-80cd-aa0a1f577053",
        aggregate_version=1,
        occurred_at="2026-11-24T10:00:00.123Z",
        schema_version=2,
        payload={"post_id": MAX_ID, "text": "h\u00e9llo \U0001f426", "mentions": ["bob"],
                 "reply_to_id": None, "nested": {"a": [1, 2.5, True]}},
    )


def test_round_trip_bytes_and_str() -> None:
    envelope = sample()
    data = envelope.to_json()
    assert EventEnvelope.from_json(data) == envelope
    assert EventEnvelope.from_json(data.decode()) == envelope


def test_json_has_exactly_the_public_fields() -> None:
    fields = orjson.loads(sample().to_json())
    assert set(fields) == {"position", "event_id", "type", "aggregate_id", "aggregate_version",
                           "occurred_at", "schema_version", "payload"}
    assert fields["payload"]["post_id"] == MAX_ID  # ids stay exact integers


def test_missing_schema_version_means_1_and_unknown_fields_are_ignored() -> None:
    fields = orjson.loads(sample().to_json())
    del fields["schema_version"]
    fields["added_later"] = "x"
    decoded = EventEnvelope.from_json(orjson.dumps(fields))
    assert decoded.schema_version == 1
    assert decoded.position == 42


@pytest.mark.parametrize("data", [b"", b"[]", b"{}", b"not json", b'{"position": 1}'])
def test_undecodable_envelopes_raise_the_errors_the_agent_catches(data: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        EventEnvelope.from_json(data)
