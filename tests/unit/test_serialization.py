"""The event store's transcoder and the RFC 3339 time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from infra.serialization import build_transcoder, rfc3339


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 11, 24, 10, 0, 0, 1, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2026, 1, 1, 0, 0, 0),  # naive stays naive
    ],
)
def test_transcoder_round_trips_datetimes_exactly(moment: datetime) -> None:
    transcoder = build_transcoder()
    decoded = transcoder.decode(transcoder.encode({"at": moment}))
    assert isinstance(decoded["at"], datetime)
    assert decoded["at"] == moment
    assert decoded["at"].utcoffset() == moment.utcoffset()


def test_transcoder_round_trips_nested_values() -> None:
    transcoder = build_transcoder()
    value: dict[str, Any] = {
        "times": [datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC)],
        "deep": {"when": datetime(2026, 5, 5, tzinfo=UTC), "amount": Decimal("1.10")},
        "big": 2**63 - 1,
        "text": "h\u00e9llo \U0001f426",
        "none": None,
        "flags": [True, False],
        "looks_typed": {"_type_": "x", "other": 1},  # 3 keys: left alone
    }
    assert transcoder.decode(transcoder.encode(value)) == value


def test_transcoder_round_trips_uuids() -> None:
    # orjson writes UUIDs natively (as plain strings) unless they are handed to the
    # registered transcoding first
    transcoder = build_transcoder()
    one = UUID("6f1c3a52-6d55-4b7e-9d3e-2d1f0c8a7b11")
    value: dict[str, Any] = {"id": one, "ids": [one, (one,)], "deep": {"x": [{"y": one}]},
                             "text": str(one)}
    decoded = transcoder.decode(transcoder.encode(value))
    assert isinstance(decoded["id"], UUID) and decoded["id"] == one
    assert decoded["ids"] == [one, [one]]  # tuples come back as lists, as in JSON
    assert decoded["deep"] == {"x": [{"y": one}]}
    assert decoded["text"] == str(one)  # a string that looks like a UUID stays a string


def _library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


SAMPLE: dict[str, Any] = {
    "id": UUID(int=7), "at": datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
    "amounts": [Decimal("1.10"), {"deep": UUID(int=8)}], "text": "h\u00e9llo", "n": 2**62,
}


def test_the_orjson_transcoder_speaks_the_library_transcoders_format() -> None:
    # it uses only the library's public surface, so it must agree with the library
    # both ways: what one writes the other reads back to equal objects
    ours, library = build_transcoder(), _library_transcoder()
    assert orjson.loads(ours.encode(SAMPLE)) == orjson.loads(library.encode(SAMPLE))
    assert ours.decode(library.encode(SAMPLE)) == SAMPLE
    assert library.decode(ours.encode(SAMPLE)) == SAMPLE


def test_revive_decodes_already_parsed_json_as_decode_does() -> None:
    transcoder = build_transcoder()
    state = transcoder.encode(SAMPLE)
    assert transcoder.revive(orjson.loads(state)) == transcoder.decode(state) == SAMPLE
    assert transcoder.revive({"_type_": "uuid_hex"}) == {"_type_": "uuid_hex"}  # no data


def test_unknown_tags_and_types_are_refused_as_the_library_refuses_them() -> None:
    transcoder = build_transcoder()
    with pytest.raises(TranscodingNotRegisteredError):
        transcoder.revive({"_type_": "no_such", "_data_": 1})
    with pytest.raises(TypeError) as refused:  # orjson's JSONEncodeError, from ours
        transcoder.encode({"x": {1, 2}})
    assert isinstance(refused.value.__cause__, TranscodingNotRegisteredError)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC), "2026-11-24T10:00:00.123Z"),
        (datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC), "2026-11-24T10:00:00.000Z"),
        (datetime(2026, 11, 24, 10, 0, 0, 999999, tzinfo=UTC), "2026-11-24T10:00:00.999Z"),
        (datetime(2026, 11, 24, 10, 0, 0, 1000, tzinfo=UTC), "2026-11-24T10:00:00.001Z"),
        (datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2))),
         "2026-11-24T10:00:00.123Z"),
        (datetime(2026, 11, 24, 3, 30, 0, tzinfo=timezone(timedelta(hours=-7))),
         "2026-11-24T10:30:00.000Z"),
        (datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
         "2026-12-31T23:30:00.000Z"),
        (datetime(2026, 11, 24, 10, 0, 0, 123456), "2026-11-24T10:00:00.123Z"),  # naive = UTC
    ],
)
def test_rfc3339_is_utc_with_milliseconds(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text
