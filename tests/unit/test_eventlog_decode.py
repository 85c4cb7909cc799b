"""The stored event -> public envelope decoding, against the transcoder's own revive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest

from domain.ids import NAMESPACE
from infra.eventlog import (
    UNDECODABLE_TYPE,
    _plain,
    _transcoder,
    decode_record,
    envelope_from_record,
    event_id,
)
from infra.serialization import rfc3339

MOMENT = datetime(2026, 11, 25, 18, 43, 21, 378550, tzinfo=UTC)

STATES: list[dict[str, Any]] = [
    {"follower_id": 2**62 + 5, "followee_id": 7},
    {"post_id": 1, "text": "héllo #tag", "mentions": ["a", "b"], "hashtags": [],
     "reply_to_id": None, "quote_of_id": None},
    {"account_id": 3, "username": "Bob", "email": "bob@example.com",
     "password_hash": "$argon2id$...", "session": uuid4(),
     "seen": [MOMENT, uuid4(), {"deep": MOMENT.astimezone(timezone(timedelta(hours=-5)))}]},
    {"amount": Decimal("1.50"), "nested": {"_type_": "not_a_tag_dict", "x": 1}},
    {"text": "a text that looks like {\"_type_\": \"uuid_hex\"}"},
]


def _reference(position: int, originator: UUID, state: bytes) -> dict[str, Any]:
    """What the envelope held when it was built from fully revived objects."""
    fields = _transcoder.decode(state)
    fields.pop("timestamp")
    fields.pop("class_version", None)
    return {k: _plain(v) for k, v in fields.items()
            if k not in {"password_hash", "refresh_hash", "email"}}


@pytest.mark.parametrize("fields", STATES)
def test_the_one_pass_decoding_equals_reviving_and_converting_back(fields: dict[str, Any]
                                                                    ) -> None:
    originator = uuid4()
    state = _transcoder.encode({**fields, "originator_id": originator, "originator_version": 3,
                                "timestamp": MOMENT})
    envelope = envelope_from_record(9, originator, 3, "domain.x:Thing.Happened", state)
    expected = _reference(9, originator, state)
    assert envelope.payload == expected
    assert envelope.occurred_at == rfc3339(MOMENT) == "2026-11-25T18:43:21.378Z"
    assert envelope.type == "Happened" and envelope.aggregate_id == str(originator)
    assert "email" not in envelope.payload and "password_hash" not in envelope.payload


@pytest.mark.parametrize("version", [1, 2, 17, 2**31 - 1])
def test_event_ids_are_the_uuid5_of_aggregate_and_version(version: int) -> None:
    aggregate = uuid4()
    assert event_id(str(aggregate), version) == str(uuid5(NAMESPACE, f"{aggregate}:{version}"))


@pytest.mark.parametrize("moment", [
    MOMENT, MOMENT.replace(microsecond=0), MOMENT.replace(microsecond=999),
    MOMENT.astimezone(timezone(timedelta(hours=5, minutes=30))),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)])
def test_stored_moments_become_the_rfc3339_of_the_api(moment: datetime) -> None:
    state = _transcoder.encode({"timestamp": moment, "when": moment, "who": UUID(int=255)})
    envelope = envelope_from_record(1, UUID(int=1), 1, "x:Y.Z", state)
    assert envelope.occurred_at == envelope.payload["when"] == rfc3339(moment)
    assert envelope.payload["who"] == "00000000-0000-0000-0000-0000000000ff"
    assert envelope.aggregate_id == "00000000-0000-0000-0000-000000000001"


def test_a_tag_of_no_registered_transcoding_makes_the_event_undecodable() -> None:
    state = b'{"timestamp":null,"odd":{"_type_":"no_such","_data_":"x"}}'
    envelope = decode_record(4, UUID(int=4), 2, "x:Y.Z", state)
    assert envelope.type == UNDECODABLE_TYPE and envelope.position == 4
    assert "TranscodingNotRegisteredError" in envelope.payload["error"]


def test_a_decimal_is_revived_by_its_registered_transcoding_and_kept_as_text() -> None:
    state = _transcoder.encode({"timestamp": MOMENT, "amount": Decimal("1.50")})
    assert envelope_from_record(1, UUID(int=1), 1, "x:Y.Z", state).payload == {
        "amount": Decimal("1.50")}
